"""Benchmark corpora built from what every Python installation ships (no download).

``manpages_corpus(n_chars)``: real text in seven languages from Debian's translated manual pages
(downloaded once with apt-get into build/manpages; Debian-family machines only).

``mixed_corpus(n_bytes)``: English prose (the pydoc help topics) and Python code (the standard
library's sources, with their English docstrings and comments), interleaved file by file until
the corpus holds ``n_bytes`` of UTF-8.
"""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

from pydoc_data.topics import topics


def _stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts)


def mixed_corpus(n_bytes: int) -> str:
    """Return about ``n_bytes`` of prose and code (deterministic for a given Python version)."""
    prose = [topics[k] for k in sorted(topics)]
    parts, size, i = [], 0, 0
    for path in _stdlib_sources():
        try:
            code = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(code)
        size += len(code.encode("utf-8"))
        if i < len(prose):
            parts.append(prose[i])
            size += len(prose[i].encode("utf-8"))
            i += 1
        if size >= n_bytes:
            break
    text = "\n".join(parts)
    if len(text.encode("utf-8")) < n_bytes:
        raise RuntimeError(f"the standard library holds less than {n_bytes} bytes of source")
    return text.encode("utf-8")[:n_bytes].decode("utf-8", "ignore")


# Letter ranges of scripts that English-heavy vocabularies serve poorly.
_SCRIPTS = {
    "latin": (0x00C0, 0x024F), "greek": (0x0391, 0x03C9), "cyrillic": (0x0410, 0x044F),
    "arabic": (0x0621, 0x064A), "devanagari": (0x0905, 0x0939), "thai": (0x0E01, 0x0E30),
    "han": (0x4E00, 0x9FFF), "hangul": (0xAC00, 0xD7A3),
}


def multilingual_corpus(n_bytes: int, seed: int = 0) -> str:
    """Return about ``n_bytes`` of synthetic text: random words of letters from eight scripts.

    Nothing repeats, so an encoder's cache of pre-tokens rarely helps: a worst case for
    web-like, non-ASCII text, not a sample of any language.
    """
    import random
    import unicodedata

    rng = random.Random(seed)
    alphabets = {
        name: [chr(cp) for cp in range(lo, hi + 1) if unicodedata.category(chr(cp)).startswith("L")]
        for name, (lo, hi) in _SCRIPTS.items()
    }
    names = sorted(alphabets)
    parts, size = [], 0
    while size < n_bytes:
        letters = alphabets[rng.choice(names)]
        words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(rng.randint(5, 15))]
        line = " ".join(words) + rng.choice([".", ",", "!", "?", ";"]) + "\n"
        parts.append(line)
        size += len(line.encode("utf-8"))
    return "".join(parts)


#: Debian's translated manual pages: real text in seven languages and four scripts.
MANPAGE_LANGUAGES = ("ja", "zh_CN", "ru", "uk", "de", "pl", "vi")
_MANPAGE_PACKAGES = ("manpages-ja", "manpages-zh", "manpages-ru", "manpages-uk", "manpages-de",
                     "manpages-pl", "manpages-vi")
_ROFF_ESCAPES = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)|\\\(..|\\\[[^\]]*\]|\\[&|^%:]|\\s[+-]?\d+")


def _strip_roff(source: str) -> str:
    """Plain text of a roff manual page: comments and requests dropped, macro names and font
    escapes removed, the words of each line kept."""
    lines = []
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"", '.\\\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            name, _, rest = line[1:].partition(" ")
            if name.upper() in {"TH", "SO", "DS", "DE", "IG", "TS", "TE", "EQ", "EN", "DS", "DE",
                                "NR", "DS", "IE", "IF", "EL", "FT", "PS", "PE", "SP", "BR", "NF",
                                "FI", "IN", "TI", "LL", "NA", "AD", "HY", "NH", "NE", "CE", "UR",
                                "UE", "MT", "ME", "RS", "RE", "PD", "TP", "LP", "PP", "P", "IP",
                                "HP", "TQ", "EE", "EX"} and not rest.strip('"'):
                continue
            line = rest.replace('"', "")
        line = _ROFF_ESCAPES.sub("", line).replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ")
        if line.strip():
            lines.append(line)
    return "\n".join(lines) + "\n"


def _manpage_root() -> Path:
    """Download and unpack the manual-page packages once (Debian-family machines only)."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parent.parent / "build" / "manpages"
    if (root / ".unpacked").exists():
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise RuntimeError("the multilingual corpus needs Debian's apt-get and dpkg-deb "
                           "(it downloads the manpages-ja, -zh, -ru, -uk, -de, -pl, -vi packages)")
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["apt-get", "download", *_MANPAGE_PACKAGES], cwd=debs, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"apt-get download failed (run 'apt-get update' first?):\n{done.stderr}")
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root / "tree")], check=True)
    (root / ".unpacked").touch()
    return root


def manpages_corpus(n_chars: int) -> str:
    """Return the first ``n_chars`` characters of Debian's translated manual pages as plain text,
    one page of each language in turn (Japanese, Chinese, Russian, Ukrainian, German, Polish,
    Vietnamese): real multilingual text, about half of it outside ASCII."""
    import gzip

    tree = _manpage_root() / "tree" / "usr" / "share" / "man"
    pages = {lang: sorted((tree / lang).rglob("*.gz")) for lang in MANPAGE_LANGUAGES}
    parts, size, i = [], 0, 0
    while size < n_chars and any(i < len(p) for p in pages.values()):
        for lang in MANPAGE_LANGUAGES:
            if i < len(pages[lang]) and size < n_chars:
                raw = gzip.decompress(pages[lang][i].read_bytes())
                text = _strip_roff(raw.decode("utf-8", "replace"))
                parts.append(text)
                size += len(text)
        i += 1
    return "".join(parts)[:n_chars]
