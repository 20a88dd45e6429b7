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
from typing import TextIO

from tokbook.bpe import PATTERNS, Tokenizer
from tokbook.bpe.textfile import read_blocks
from tokbook.encodings import ENCODING_NAMES


def _load_model(name: str) -> Tokenizer:
    if name in ENCODING_NAMES:
        return Tokenizer.from_tiktoken(name)
    path = Path(name)
    if not path.exists():
        raise SystemExit(
            f"tokbook: no model {name!r}: give a file written by `tokbook bpe train` "
            f"or one of {', '.join(ENCODING_NAMES)}"
        )
    _check_input(path, "model")
    try:
        return Tokenizer.load(path)
    except (OSError, ValueError) as exc:
        raise _read_failed(path, exc) from None


def _check_input(path: Path, what: str) -> None:
    """Refuse, in one line, an input path that is missing or a directory."""
    if path.is_dir():
        raise SystemExit(f"tokbook: {path} is a directory; give the {what} file")
    if not path.exists():
        raise SystemExit(f"tokbook: no {what} file {path}")


def _check_output(path: Path) -> None:
    """Refuse, before any work, an output path that cannot be a new or existing file."""
    if path.is_dir():
        raise SystemExit(f"tokbook: --out {path} is a directory; give a file name, such as {path / 'out.json'}")
    if not path.parent.is_dir():
        raise SystemExit(f"tokbook: cannot write {path}: there is no folder {path.parent}")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise SystemExit(f"tokbook: cannot write {path}: Permission denied")


def _read_failed(path: Path, exc: Exception) -> SystemExit:
    """The one-line message for an input file that could not be read (OSError) or is not what
    it should be (ValueError, whose message already names the file: not UTF-8, not a model)."""
    if isinstance(exc, OSError):
        return SystemExit(f"tokbook: cannot read {path}: {exc.strerror or exc}")
    return SystemExit(f"tokbook: {exc}")


def _write_failed(path: Path, exc: OSError) -> SystemExit:
    return SystemExit(f"tokbook: cannot write {path}: {exc.strerror or exc}")


def _blocks(path: Path) -> Iterator[str]:
    """The text of an input file, in blocks; a bad file ends the command with one line."""
    _check_input(path, "input")
    try:
        yield from read_blocks(path)
    except (OSError, ValueError) as exc:
        raise _read_failed(path, exc) from None


def _train(args: argparse.Namespace) -> int:
    specials = list(dict.fromkeys(args.special or []))
    if args.vocab_size < 256 + len(specials):
        held = "the 256 single bytes" + (f" and {len(specials)} special token{'s' * (len(specials) > 1)}"
                                          if specials else "")
        raise SystemExit(f"tokbook: --vocab-size must be at least {256 + len(specials)} ({held}), got {args.vocab_size}")
    if args.workers is not None and args.workers < 1:
        raise SystemExit(f"tokbook: --workers must be at least 1, got {args.workers}")
    pattern = None if args.pattern == "none" else args.pattern
    try:
        tok = Tokenizer(pattern=pattern, special_tokens=specials or None)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"tokbook: --special: {exc}") from None
    _check_output(args.out)
    _check_input(args.corpus, "training")
    if args.corpus.is_file() and args.corpus.stat().st_size == 0:
        raise SystemExit(f"tokbook: the training file {args.corpus} is empty: there is nothing to learn from")
    started = time.perf_counter()
    try:
        tok.train(args.corpus, args.vocab_size - len(specials), verbose=not args.quiet, workers=args.workers)
    except (OSError, ValueError) as exc:
        raise _read_failed(args.corpus, exc) from None
    try:
        tok.save(args.out)
    except OSError as exc:
        raise _write_failed(args.out, exc) from None
    print(
        f"trained {len(tok.vocab) + len(tok.special_tokens)} tokens ({len(tok.merges)} merges, "
        f"{len(tok.special_tokens)} special) "
        f"in {time.perf_counter() - started:.1f} s; saved to {args.out}",
        file=sys.stderr,
    )
    return 0


def _special_options(args: argparse.Namespace) -> dict:
    # Special-token strings in a file are ordinary text unless the user asks otherwise.
    return {"allowed_special": "all"} if args.allow_special else {"disallowed_special": ()}


def _encode(args: argparse.Namespace) -> int:
    tok = _load_model(args.model)
    _check_input(args.input, "input")
    if not args.out:
        _write_ids(tok, args, sys.stdout)
        return 0
    _check_output(args.out)
    try:
        out = open(args.out, "w", encoding="utf-8")
    except OSError as exc:
        raise _write_failed(args.out, exc) from None
    with out:
        try:
            _write_ids(tok, args, out)
        except SystemExit:  # the input turned out bad: leave no half-written file
            out.close()
            args.out.unlink()
            raise
    return 0


def _ids(tok: Tokenizer, args: argparse.Namespace) -> Iterator[int]:
    """The ids of the input file, streamed; a model without a split pattern encodes the whole
    file as one piece, so it reads the whole file first."""
    if tok.pattern is None:
        return iter(tok.encode("".join(_blocks(args.input)), **_special_options(args)))
    return tok.encode_iterable(_blocks(args.input), **_special_options(args))


def _write_ids(tok: Tokenizer, args: argparse.Namespace, out: TextIO) -> None:
    """Write the ids of the input file, 32 to a line."""
    line: list[str] = []
    for token_id in _ids(tok, args):
        line.append(str(token_id))
        if len(line) == 32:
            out.write(" ".join(line) + "\n")
            line = []
    if line:
        out.write(" ".join(line) + "\n")


def _stats(args: argparse.Namespace) -> int:
    tok = _load_model(args.model)
    n_tokens = sum(1 for _ in _ids(tok, args))
    n_bytes = args.input.stat().st_size
    ratio = f"{n_bytes / n_tokens:.3f}" if n_tokens else "no"  # an empty file has no ratio
    print(f"{args.input}: {n_bytes} bytes, {n_tokens} tokens, {ratio} bytes per token")
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
        grade_class(args.submissions, args.out, course=args.course, pattern=args.pattern, lms=args.lms,
                    workers=args.workers, feedback=args.feedback, cache=args.cache,
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
    train.add_argument("--vocab-size", type=int, required=True,
                       help="tokens in the vocabulary, special tokens included (at least 256 + their number)")
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

    from tokbook.course.layouts import DEFAULT_PATTERN, LAYOUTS  # no nbgrader needed for this

    grade = commands.add_parser(
        "grade", help="autograde submitted notebooks: grades.csv, feedback, summary.html",
        description="Autograde every submitted notebook with nbgrader against the exercises in "
                    "solutions/, in parallel, and write grades.csv, feedback/<assignment>/<student>.html "
                    "and summary.html to --out. Results are cached in --out: running again grades "
                    "only new or changed submissions. --out holds no solution and no hidden test "
                    "(unless --feedback hidden-tests): the prepared exercises live in --cache.")
    grade.add_argument("submissions", type=Path,
                       help="a folder or a .zip: nbgrader's submitted/<student>/<assignment>/<assignment>.ipynb "
                            "tree, a Canvas, Moodle or Blackboard export, or flat files named like alice_utf8.ipynb")
    grade.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/, summary.html")
    grade.add_argument("--pattern", default=None,
                       help="regular expression for flat file names, with the named groups student and "
                            f"assignment (and optionally attempt); default: {DEFAULT_PATTERN.replace('%', '%%')}")
    grade.add_argument("--lms", choices=["auto", *LAYOUTS], default="auto",
                       help="how the submissions are laid out (default: auto, each file recognised on its own)")
    grade.add_argument("--feedback", choices=["summary", "hidden-tests"], default="summary",
                       help="summary (default): each test's points and why it failed, not its code; "
                            "hidden-tests: the whole graded notebook, hidden tests included")
    grade.add_argument("--cache", type=Path, default=None,
                       help="folder for the prepared exercises, outside --out "
                            "(default: $TOKBOOK_CACHE or ~/.cache/tokbook)")
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
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (`tokbook bpe encode ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
