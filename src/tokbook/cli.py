"""The ``tokbook`` command line.

``tokbook bpe train``  learn a byte-level BPE vocabulary from a UTF-8 text file (progress bar);
``tokbook bpe encode`` write the token ids of a file, streaming (memory stays flat);
``tokbook bpe stats``  report bytes, tokens and bytes per token of a file;
``tokbook grade``      autograde a class's submitted notebooks with nbgrader, in parallel.

A MODEL is a file written by ``tokbook bpe train`` or one of the real encodings ``gpt2``,
``cl100k_base``, ``o200k_base``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tokbook.bpe import PATTERNS, Tokenizer
from tokbook.encodings import ENCODING_NAMES


def _load_model(name: str) -> Tokenizer:
    if name in ENCODING_NAMES:
        return Tokenizer.from_tiktoken(name)
    path = Path(name)
    if not path.is_file():
        raise SystemExit(
            f"tokbook: no model {name!r}: give a file written by `tokbook bpe train` "
            f"or one of {', '.join(ENCODING_NAMES)}"
        )
    try:
        return Tokenizer.load(path)
    except ValueError as exc:
        raise SystemExit(f"tokbook: {exc}") from None


def _lines(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise SystemExit(f"tokbook: no input file {path}")
    try:
        with open(path, encoding="utf-8", newline="") as f:  # newline="" keeps \r\n as it is
            yield from f
    except UnicodeDecodeError as exc:
        raise SystemExit(f"tokbook: {path} is not UTF-8 text ({exc})") from None


def _train(args: argparse.Namespace) -> int:
    if not args.corpus.is_file():
        raise SystemExit(f"tokbook: no training file {args.corpus}")
    pattern = None if args.pattern == "none" else args.pattern
    tok = Tokenizer(pattern=pattern, special_tokens=args.special or None)
    started = time.perf_counter()
    tok.train(args.corpus, args.vocab_size, verbose=not args.quiet, workers=args.workers)
    tok.save(args.out)
    print(
        f"trained {len(tok.vocab)} tokens ({len(tok.merges)} merges, {len(tok.special_tokens)} special) "
        f"in {time.perf_counter() - started:.1f} s; saved to {args.out}",
        file=sys.stderr,
    )
    return 0


def _special_options(args: argparse.Namespace) -> dict:
    # Special-token strings in a file are ordinary text unless the user asks otherwise.
    return {"allowed_special": "all"} if args.allow_special else {"disallowed_special": ()}


def _encode(args: argparse.Namespace) -> int:
    tok = _load_model(args.model)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        line: list[str] = []
        for token_id in tok.encode_iterable(_lines(args.input), **_special_options(args)):
            line.append(str(token_id))
            if len(line) == 32:
                out.write(" ".join(line) + "\n")
                line = []
        if line:
            out.write(" ".join(line) + "\n")
    finally:
        if args.out:
            out.close()
    return 0


def _stats(args: argparse.Namespace) -> int:
    tok = _load_model(args.model)
    n_tokens = sum(1 for _ in tok.encode_iterable(_lines(args.input), **_special_options(args)))
    n_bytes = args.input.stat().st_size
    ratio = n_bytes / n_tokens if n_tokens else float("nan")
    print(f"{args.input}: {n_bytes} bytes, {n_tokens} tokens, {ratio:.3f} bytes per token")
    return 0


def _grade(args: argparse.Namespace) -> int:
    # Imported here: nbgrader is an optional dependency (the `grade` extra).
    try:
        from tokbook.course.grade import grade_class
    except ImportError as exc:
        raise SystemExit(f"tokbook grade needs the grading tools ({exc}); pip install 'tokbook[grade]'") from None
    if not args.submissions.exists():
        raise SystemExit(f"tokbook grade: there is no {args.submissions}; give the folder (or .zip) of submissions")
    limits = {"timeout": args.timeout, "memory_mb": args.memory_mb, "sandbox": args.sandbox}
    try:
        grade_class(args.submissions, args.out, course=args.course, pattern=args.pattern, workers=args.workers,
                    **{k: v for k, v in limits.items() if v is not None})
    except ValueError as exc:
        raise SystemExit(f"tokbook grade: {exc}") from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokbook", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    bpe = commands.add_parser("bpe", help="train, apply and measure byte-level BPE tokenizers")
    actions = bpe.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train", help="learn a vocabulary from a UTF-8 text file")
    train.add_argument("corpus", type=Path, help="UTF-8 text file to learn from")
    train.add_argument("--vocab-size", type=int, required=True, help="tokens in the vocabulary, >= 256")
    train.add_argument("--out", type=Path, required=True, help="where to save the tokenizer (JSON)")
    train.add_argument("--pattern", choices=[*PATTERNS, "none"], default="o200k_base",
                       help="pre-tokenization split pattern (default: o200k_base)")
    train.add_argument("--special", action="append", metavar="TOKEN",
                       help="a special token, e.g. '<|endoftext|>' (repeat for more)")
    train.add_argument("--workers", type=int, default=None, help="processes for counting (default: all cores)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    for name, run, text in (("encode", _encode, "write the token ids of a file"),
                            ("stats", _stats, "bytes, tokens and bytes per token of a file")):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("--model", required=True, help=f"a trained tokenizer file or one of {', '.join(ENCODING_NAMES)}")
        sub.add_argument("input", type=Path, help="UTF-8 text file")
        sub.add_argument("--allow-special", action="store_true",
                         help="encode special-token strings in the file as special tokens")
        if name == "encode":
            sub.add_argument("--out", type=Path, help="output file (default: standard output)")
        sub.set_defaults(run=run)

    from tokbook.course.collect import DEFAULT_PATTERN  # no nbgrader needed for this

    grade = commands.add_parser(
        "grade", help="autograde submitted notebooks: grades.csv, feedback, summary.html",
        description="Autograde every submitted notebook with nbgrader against the exercises in "
                    "solutions/, in parallel, and write grades.csv, feedback/<assignment>/<student>.html "
                    "and summary.html to --out. Results are cached in --out: running again grades "
                    "only new or changed submissions.")
    grade.add_argument("submissions", type=Path,
                       help="nbgrader's submitted/<student>/<assignment>/<assignment>.ipynb tree, a flat "
                            "folder of LMS files named like alice_utf8.ipynb, or a .zip of either")
    grade.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/, summary.html")
    grade.add_argument("--pattern", default=None,
                       help="regular expression for flat file names, with the named groups student and "
                            f"assignment (and optionally attempt); default: {DEFAULT_PATTERN.replace('%', '%%')}")
    grade.add_argument("--course", type=Path, default=Path("."),
                       help="the course repository holding solutions/ (default: the current folder)")
    grade.add_argument("--workers", type=int, default=None, help="notebooks graded at once (default: all cores)")
    grade.add_argument("--timeout", type=float, default=None,
                       help="seconds one cell may run before it is interrupted (default: the course's, 10)")
    grade.add_argument("--memory-mb", type=int, default=None,
                       help="address-space limit in MB of each grading process and its kernel (default: 4096)")
    grade.add_argument("--sandbox", choices=["bwrap", "none"], default=None,
                       help="run each submission's kernel in a bubblewrap sandbox (bwrap, the default where it "
                            "works) or not (none: student code can read the hidden tests; the summary says so)")
    grade.set_defaults(run=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bpe" and args.action == "train" and args.vocab_size < 256:
        raise SystemExit("tokbook: --vocab-size must be at least 256 (the single bytes)")
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (`tokbook bpe encode ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
