"""tokbook.sentencepiece against sentencepiece: BPE training, and encoding with Mistral's model.

Run ``.venv/bin/python benchmarks/sentencepiece.py`` (a few minutes). Two tables:

- training: our code-point BPE trainer and sentencepiece's (BPE, one thread, identity
  normalization, the same options), on the same text: seconds, how many pieces agree, and
  compression (UTF-8 bytes per token) on held-out text; the same for Unigram, on less text;
- encoding with Mistral 7B's model (``tokenizer.model.v1``), line by line: MB/s of both, the
  ratio, and whether every id agrees; on Debian's translated manual pages (seven languages) and on
  English prose and Python code.

The numbers are ratios from one run on this machine; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file has the name of the package it measures: import the real one before putting
# benchmarks/ (for corpus.py) on the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import sentencepiece as spm  # noqa: E402

sys.path.insert(0, str(HERE))
from corpus import manpages_corpus, mixed_corpus  # noqa: E402


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def bytes_per_token(encode, lines: list[str]) -> float:
    tokens = sum(len(encode(line)) for line in lines)
    return sum(len(line.encode("utf-8")) for line in lines) / tokens


def print_training(title: str, theirs: tuple[float, float], ours: tuple[float, float],
                   agreement_header: str, agreement: str) -> None:
    """Print one training comparison: (seconds, held-out bytes per token) of sentencepiece and ours."""
    (theirs_seconds, theirs_bpt), (ours_seconds, ours_bpt) = theirs, ours
    print(f"\nTraining {title}")
    print(table(
        [
            ["sentencepiece", f"{theirs_seconds:.1f}", "1.0", f"{theirs_bpt:.3f}", ""],
            ["tokbook", f"{ours_seconds:.1f}", f"{ours_seconds / theirs_seconds:.1f}", f"{ours_bpt:.3f}", agreement],
        ],
        ["trainer", "seconds", "x sentencepiece", "bytes/token (held out)", agreement_header],
    ))
    print(f"compression difference: {100 * (ours_bpt / theirs_bpt - 1):+.2f}%")


def train_table(train_lines: list[str], heldout: list[str], vocab_size: int, label: str) -> None:
    from tokbook.sentencepiece import SentencePieceProcessor
    from tokbook.sentencepiece.model import parse_model
    from tokbook.sentencepiece.training import train_bpe

    options = dict(vocab_size=vocab_size, byte_fallback=True, split_digits=True, character_coverage=0.9995)
    started = time.perf_counter()
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train_lines), model_writer=out, model_type="bpe", normalization_rule_name="identity",
        num_threads=1, minloglevel=2, **options,
    )
    theirs_seconds = time.perf_counter() - started
    theirs = parse_model(out.getvalue())
    started = time.perf_counter()
    ours = train_bpe(train_lines, **options)
    ours_seconds = time.perf_counter() - started
    same = sum(a.piece == b.piece for a, b in zip(ours.pieces, theirs.pieces))
    ours_bpt = bytes_per_token(SentencePieceProcessor.from_model(ours).encode, heldout)
    theirs_bpt = bytes_per_token(spm.SentencePieceProcessor(model_proto=out.getvalue()).encode, heldout)
    megabytes = sum(len(line.encode("utf-8")) for line in train_lines) / 1e6
    print_training(f"BPE, vocab_size={vocab_size}, byte_fallback, split_digits, on {megabytes:.1f} MB of {label}",
                   (theirs_seconds, theirs_bpt), (ours_seconds, ours_bpt),
                   "same piece at same id", f"{same}/{len(theirs.pieces)}")


def unigram_table(train_lines: list[str], heldout: list[str], vocab_size: int, label: str) -> None:
    from tokbook.sentencepiece import SentencePieceProcessor
    from tokbook.sentencepiece.unigram_training import train_unigram

    started = time.perf_counter()
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train_lines), model_writer=out, model_type="unigram", vocab_size=vocab_size,
        normalization_rule_name="identity", num_threads=1, minloglevel=2,
    )
    theirs_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = train_unigram(train_lines, vocab_size=vocab_size)
    ours_seconds = time.perf_counter() - started
    ours_bpt = bytes_per_token(SentencePieceProcessor.from_model(ours).encode, heldout)
    theirs_bpt = bytes_per_token(spm.SentencePieceProcessor(model_proto=out.getvalue()).encode, heldout)
    theirs_pieces = {p.piece for p in SentencePieceProcessor(model_proto=out.getvalue()).model.pieces}
    shared = len(theirs_pieces & {p.piece for p in ours.pieces})
    megabytes = sum(len(line.encode("utf-8")) for line in train_lines) / 1e6
    print_training(f"Unigram, vocab_size={vocab_size}, on {megabytes:.1f} MB of {label}",
                   (theirs_seconds, theirs_bpt), (ours_seconds, ours_bpt),
                   "pieces in common", f"{shared}/{len(theirs_pieces)}")
    print("EM losses: " + " ".join(f"{loss:.3f}" for loss in ours.trainer_options["losses"]))


def encode_table(texts: dict[str, list[str]]) -> None:
    from tokbook.sentencepiece import SentencePieceProcessor, mistral_model_file

    ours = SentencePieceProcessor(model_file=mistral_model_file("v1"))
    theirs = spm.SentencePieceProcessor(model_file=str(mistral_model_file("v1")))
    rows = []
    for label, lines in texts.items():
        megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
        started = time.perf_counter()
        real = [theirs.encode(line) for line in lines]
        theirs_seconds = time.perf_counter() - started
        started = time.perf_counter()
        mine = [ours.encode(line) for line in lines]
        ours_seconds = time.perf_counter() - started
        rows.append([
            label, f"{megabytes:.1f}", f"{megabytes / theirs_seconds:.2f}", f"{megabytes / ours_seconds:.2f}",
            f"{ours_seconds / theirs_seconds:.1f}", str(mine == real),
        ])
    print("\nEncoding with Mistral 7B's tokenizer.model.v1, line by line, one thread")
    print(table(rows, ["text", "MB", "sentencepiece MB/s", "tokbook MB/s", "tokbook slower by", "identical ids"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=10, help="training text size (default 10)")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--unigram-megabytes", type=float, default=1,
                        help="Unigram training text size (default 1: our EM is slow in pure Python)")
    parser.add_argument("--only", choices=["train", "unigram", "encode"], help="run one of the three parts")
    args = parser.parse_args()
    n = int(args.megabytes * 1_000_000)
    if args.only in (None, "train"):
        text = mixed_corpus(n + 1_000_000)
        cut = len(text.encode()[:n].decode("utf-8", "ignore"))
        train_table(text[:cut].splitlines(), text[cut:].splitlines(), args.vocab_size,
                    "English prose and Python code")
        multilingual = manpages_corpus(n // 2 + 500_000)  # about 2 bytes per character
        cut = len(multilingual) * n // (n + 1_000_000)
        train_table(multilingual[:cut].splitlines(), multilingual[cut:].splitlines(), args.vocab_size,
                    "translated manual pages (seven languages)")
    if args.only in (None, "unigram"):
        m = int(args.unigram_megabytes * 1_000_000)
        text = mixed_corpus(m + 1_000_000)
        cut = len(text.encode()[:m].decode("utf-8", "ignore"))
        unigram_table(text[:cut].splitlines(), text[cut:].splitlines(), args.vocab_size,
                      "English prose and Python code")
    if args.only in (None, "encode"):
        encode_table({
            "manual pages, 7 languages": manpages_corpus(1_000_000).splitlines(),
            "English prose and code": mixed_corpus(2_000_000).splitlines(),
        })


if __name__ == "__main__":
    main()
