"""tokbook.bpe against its peers: training time and memory, encoding speed, streaming memory.

Run ``make bench`` (or ``.venv/bin/python benchmarks/bpe.py``). Every measurement runs in a
fresh subprocess, so peak memory (max RSS) belongs to that measurement alone. Peers:

- training: Hugging Face ``tokenizers`` (BpeTrainer, ByteLevel pre-tokenizer, RAYON_NUM_THREADS=1)
  and ``sentencepiece`` (BPE, one thread), all on the same text and vocabulary size; then
  tokbook (one worker) and HF on real multilingual text, Debian's translated manual pages;
- encoding: ``tiktoken`` ``encode_ordinary`` with the cl100k_base vocabulary (one thread), cold:
  a fresh encoder for each text, on prose and code, on Debian's translated manual pages (real
  text in seven languages, :func:`corpus.manpages_corpus`) and on synthetic text in eight
  scripts; tokbook's pure-Python path and its fast path (tiktoken's core via encode_iterable
  and encode_batch); and single pre-tokens of 10^3..10^6 characters, before and after the heap.

The numbers are ratios from one run on this machine; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import manpages_corpus, mixed_corpus, multilingual_corpus  # noqa: E402


def child(job: dict) -> dict:
    """Run one measurement in a fresh interpreter and return what it printed (JSON)."""
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{job['kind']} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(job: dict) -> dict:
    import time

    kind, path = job["kind"], job.get("path")
    text = Path(path).read_text(encoding="utf-8") if path else None
    heldout = Path(job["heldout"]).read_text(encoding="utf-8") if job.get("heldout") else None
    started = time.perf_counter()
    result: dict = {}
    if kind == "train-tokbook":
        from tokbook.bpe import Tokenizer

        tok = Tokenizer(pattern="gpt2")
        tok.train(text, job["vocab_size"], workers=job["workers"])
        result["seconds"] = time.perf_counter() - started
        result["tokens"] = len(tok.encode_ordinary(heldout))
    elif kind == "train-hf":
        from tokenizers import Tokenizer as HFTokenizer, models, pre_tokenizers, trainers

        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=job["vocab_size"], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator([text], trainer=trainer)
        result["seconds"] = time.perf_counter() - started
        result["tokens"] = len(hf.encode(heldout).ids)
    elif kind == "train-sentencepiece":
        import sentencepiece as spm

        with tempfile.TemporaryDirectory() as tmp:
            spm.SentencePieceTrainer.train(
                input=path, model_prefix=f"{tmp}/m", vocab_size=job["vocab_size"], model_type="bpe",
                byte_fallback=True, character_coverage=1.0, num_threads=1, max_sentence_length=1 << 20,
                input_sentence_size=0, minloglevel=2,
            )
            result["seconds"] = time.perf_counter() - started
            sp = spm.SentencePieceProcessor(model_file=f"{tmp}/m.model")
            result["tokens"] = len(sp.encode(heldout))
    elif kind == "encode":
        result.update(encode_child(job["encoder"], text, job["tiktoken_first"]))
    elif kind == "runs":
        result["seconds"] = runs_child(job["encoder"], job["unit"], job["sizes"])
    elif kind == "stream-tokbook":
        from tokbook.bpe import Tokenizer

        tok = Tokenizer.from_tiktoken("cl100k_base")
        before = _max_rss_mb()
        started = time.perf_counter()
        with open(job["stream"], encoding="utf-8", newline="") as f:
            result["tokens"] = sum(1 for _ in tok.encode_iterable(f))
        result["seconds"] = time.perf_counter() - started
        result["rss_growth_mb"] = _max_rss_mb() - before
    result["max_rss_mb"] = _max_rss_mb()
    return result


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=10, help="training/encoding text size (default 10)")
    parser.add_argument("--vocab-size", type=int, default=32_000)
    parser.add_argument("--only", choices=["train", "encode", "stream"], help="run one of the three parts")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return

    n = int(args.megabytes * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        text = mixed_corpus(n + 1_000_000)
        train_path, heldout_path = Path(tmp, "train.txt"), Path(tmp, "heldout.txt")
        cut = len(text.encode()[:n].decode("utf-8", "ignore"))
        train_path.write_text(text[:cut], encoding="utf-8")
        heldout_path.write_text(text[cut:], encoding="utf-8")
        heldout_bytes = heldout_path.stat().st_size
        print(f"corpus: {train_path.stat().st_size / 1e6:.1f} MB of prose and code from the standard "
              f"library (+{heldout_bytes / 1e6:.1f} MB held out); vocabulary {args.vocab_size}; "
              f"{os.cpu_count()} cores\n")

        if args.only in (None, "train"):
            train_table(train_path, heldout_path, args.vocab_size)
        if args.only in (None, "encode"):
            encode_table(train_path, Path(tmp, "multilingual.txt"), n)
            runs_table()
        if args.only in (None, "stream"):
            stream_table(train_path, Path(tmp, "big.txt"))


def train_table(train_path: Path, heldout_path: Path, vocab_size: int) -> None:
    """Training on the English prose and code (every peer), then on real multilingual text
    (tokbook with one worker against HF with one thread)."""
    runs = {
        f"tokbook ({os.cpu_count()} workers counting)": {"kind": "train-tokbook", "workers": os.cpu_count()},
        "tokbook (1 worker)": {"kind": "train-tokbook", "workers": 1},
        "HF tokenizers (1 thread)": {"kind": "train-hf"},
        "sentencepiece BPE (1 thread)": {"kind": "train-sentencepiece"},
    }
    rows = _train_rows("prose + code", train_path, heldout_path, vocab_size, runs)

    # Debian's translated manual pages: long pre-tokens (CJK runs, 2-byte Cyrillic letters).
    text = manpages_corpus(MANPAGES_CHARS + MANPAGES_HELDOUT_CHARS)
    multi_train, multi_heldout = train_path.with_name("manpages.txt"), train_path.with_name("manpages-heldout.txt")
    multi_train.write_text(text[:MANPAGES_CHARS], encoding="utf-8")
    multi_heldout.write_text(text[MANPAGES_CHARS:], encoding="utf-8")
    runs = {name: runs[name] for name in ("tokbook (1 worker)", "HF tokenizers (1 thread)")}
    label = f"manual pages, 7 languages ({multi_train.stat().st_size / 1e6:.1f} MB)"
    rows += _train_rows(label, multi_train, multi_heldout, MANPAGES_VOCAB, runs)
    print(f"Training (GPT-2 pattern; vocabulary {vocab_size} on prose + code, {MANPAGES_VOCAB} on the "
          f"first {MANPAGES_CHARS:,} characters of the manual pages)")
    print(table(rows, ["text", "trainer", "seconds", "x HF time", "peak MB", "bytes/token (held out)", "vs HF"]))


#: The multilingual training run: characters of manual pages, and vocabulary size.
MANPAGES_CHARS, MANPAGES_HELDOUT_CHARS, MANPAGES_VOCAB = 1_500_000, 200_000, 8_000


def _train_rows(label: str, train_path: Path, heldout_path: Path, vocab_size: int, runs: dict) -> list[list[str]]:
    heldout_bytes = heldout_path.stat().st_size
    common = {"path": str(train_path), "heldout": str(heldout_path), "vocab_size": vocab_size}
    results = {name: child({**common, **job}) for name, job in runs.items()}
    hf = results["HF tokenizers (1 thread)"]
    return [[label, name, f"{r['seconds']:.1f}", f"{r['seconds'] / hf['seconds']:.2f}", f"{r['max_rss_mb']:.0f}",
             f"{heldout_bytes / r['tokens']:.3f}", f"{hf['tokens'] / r['tokens'] - 1:+.2%}"]
            for name, r in results.items()]


def encode_child(encoder: str, text: str, tiktoken_first: bool) -> dict:
    """Encode ``text`` once with tiktoken and once with a fresh tokbook encoder (a cold cache),
    one after the other in the same process, so that both see the same machine load."""
    import time

    from tokbook.bpe import Tokenizer
    from tokbook.encodings import get_encoding

    tok = Tokenizer.from_tiktoken("cl100k_base")
    lines = text.splitlines(keepends=True)  # as a file is read
    ours = {
        "pure": lambda: tok.encode_ordinary(text),
        "iterable": lambda: list(tok.encode_iterable(lines, disallowed_special=())),
        "batch": lambda: tok.encode_batch([text], disallowed_special=())[0],
    }[encoder]
    theirs = lambda: get_encoding("cl100k_base").encode_ordinary(text)  # noqa: E731
    result = {}
    for name, encode in (("tiktoken", theirs), ("tokbook", ours))[::1 if tiktoken_first else -1]:
        started = time.perf_counter()
        ids = encode()
        result[name] = time.perf_counter() - started
        result[f"{name}_hash"] = hash(tuple(ids))
    return result


def _run_text(unit: str, n: int) -> str:
    """One pre-token of ``n`` characters: a run of one character, or random letters."""
    if unit == "letters":
        import random

        rng = random.Random(n)
        return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=n))
    return unit * n


def runs_child(encoder: str, unit: str, sizes: list[int]) -> list[float]:
    """Seconds to encode a single long pre-token of each size (each text is new to the encoder)."""
    import time

    from tokbook.bpe import Tokenizer, merging
    from tokbook.encodings import get_encoding

    if encoder == "tiktoken":
        encode = get_encoding("cl100k_base").encode_ordinary
    else:
        encode = Tokenizer.from_tiktoken("cl100k_base").encode_ordinary
        if encoder == "scan":  # the encoder before the heap: the scan for every length
            merging.HEAP_FROM = float("inf")
    seconds = []
    for n in sizes:
        text = _run_text(unit, n)
        started = time.perf_counter()
        encode(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def encode_table(train_path: Path, multi_path: Path, n_bytes: int) -> None:
    from corpus import manpages_corpus

    multi_path.write_text(manpages_corpus(n_bytes // 2), encoding="utf-8")  # about 1.5 bytes a character
    synthetic = multi_path.with_name("synthetic.txt")
    synthetic.write_text(multilingual_corpus(n_bytes // 4), encoding="utf-8")
    rows = []
    encoders = {"pure": "pure Python", "iterable": "fast: encode_iterable (lines)", "batch": "fast: encode_batch"}
    for label, path in (("prose + code", train_path), ("manual pages, 7 languages", multi_path),
                        ("synthetic 8 scripts", synthetic)):
        mb = path.stat().st_size / 1e6
        for encoder, name in encoders.items():
            # Three fresh processes, each timing tiktoken and tokbook back to back (in turn first);
            # the best time of each.
            runs = [child({"kind": "encode", "encoder": encoder, "path": str(path), "tiktoken_first": i % 2 == 0})
                    for i in range(3)]
            theirs, ours = (min(r[key] for r in runs) for key in ("tiktoken", "tokbook"))
            same = all(r["tiktoken_hash"] == r["tokbook_hash"] for r in runs)
            rows.append([label, f"{mb:.1f}", name, f"{mb / theirs:.2f}", f"{mb / ours:.2f}",
                         f"{theirs / ours:.2f}", "yes" if same else "NO"])
    print("\nEncoding with cl100k_base, cold (a fresh encoder per text, each text seen once; the best of three; one thread)")
    print(table(rows, ["text", "MB", "tokbook path", "tiktoken MB/s", "tokbook MB/s", "tokbook / tiktoken",
                       "identical ids"]))


def runs_table() -> None:
    """One long pre-token (issue 13): the pure-Python path, before (scan) and after (heap)."""
    sizes = [1_000, 10_000, 100_000, 1_000_000]
    scan_sizes = sizes[:2]  # the scan takes about 100 s at 10^5 and hours at 10^6
    rows = []
    for unit, label in (("x", '"x" * n'), (" ", '" " * n'), ("letters", "n random letters")):
        theirs = child({"kind": "runs", "encoder": "tiktoken", "unit": unit, "sizes": sizes})["seconds"]
        after = child({"kind": "runs", "encoder": "pure", "unit": unit, "sizes": sizes})["seconds"]
        before = child({"kind": "runs", "encoder": "scan", "unit": unit, "sizes": scan_sizes})["seconds"]
        for i, n in enumerate(sizes):
            rows.append([label, f"{n:,}", f"{theirs[i]:.3f}", f"{before[i]:.3f}" if i < len(before) else "not run",
                         f"{after[i]:.3f}", f"{after[i] / theirs[i]:.0f}x"])
    print("\nOne long pre-token, cl100k_base, seconds (pure Python before = the scan; after = the heap)")
    print(table(rows, ["text", "n", "tiktoken", "tokbook before", "tokbook after", "after / tiktoken"]))


def stream_table(train_path: Path, big: Path) -> None:
    text = train_path.read_text(encoding="utf-8")
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(10):
            f.write(text)
    rows = []
    for label, path in (("1x", train_path), ("10x", big)):
        r = child({"kind": "stream-tokbook", "stream": str(path)})
        rows.append([label, f"{path.stat().st_size / 1e6:.0f}", f"{r['seconds']:.1f}", f"{r['max_rss_mb']:.0f}",
                     f"{r['rss_growth_mb']:.0f}"])
    print("\nStreaming a file with encode_iterable (cl100k_base)")
    print(table(rows, ["file", "MB", "seconds", "peak MB", "peak growth while streaming MB"]))


if __name__ == "__main__":
    main()
