"""Packing 1,000,000 documents into rows of 2048 tokens: efficiency, documents cut, time.

Run ``.venv/bin/python benchmarks/packing.py``. Document lengths are drawn from a log-normal
distribution (median 400 tokens, sigma 1.2; a length above 2048 is drawn again, so no document
needs cutting) and count each document's end-of-text token, so every method lays out the same
tokens. Methods:

- naive padding: one document per row, padded to 2048;
- concatenate-and-chunk (GPT pretraining style): no padding at all, but documents are cut;
- greedy first fit in arrival order, first fit decreasing, best fit decreasing (tokbook's
  pure-Python versions, item by item);
- tokbook's histogram best fit (numpy, time linear in the number of documents).

Each is judged against the lower bound ``ceil(sum(lengths) / 2048)`` on the number of rows.
A second table packs the sequence-length histogram of BERT's Wikipedia pre-training data
(max length 512, 16,279,552 sequences) that Krell et al. published with "Efficient Sequence
Packing without Cross-contamination" (arXiv 2107.02027; graphcore/examples,
``tutorials/blogs_code/packedBERT/histograms.py``, MIT licence: the counts below are theirs), and
quotes the efficiencies they report for their own algorithms on it.

A third table tokenizes documents (Python's pydoc help topics and standard-library sources,
cycled until the corpus has the size asked for) with GPT-2's encoding, with 1 and 2 processes, in
two pipelines that give the same ids (tests/test_packing_hf.py): tokbook's memory-mapped token
file (``tokenize_to_file``, spawned workers, documents read lazily) and Hugging Face ``datasets``
(``tokenize_with_datasets``: ``Dataset.from_dict`` of the documents in memory, then
``map(batched=True, num_proc=...)``, whose workers are forked; with ``num_proc=1`` it encodes in
the parent). Each run has a fresh interpreter, whose peak memory
(VmHWM) is its own; for the workers, ru_maxrss of the largest is an upper bound, since Linux
counts the parent's peak at spawn time in it. The corpus is read lazily, so peak memory should
not grow with the corpus. CPU seconds (user + system) of the parent and of all workers together
show how the work splits, which wall time alone cannot when other jobs share the cores.

Times are from one run on this machine (the histogram packer's is the best of five; the time of
concatenate-and-chunk is that of counting the documents it cuts); nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

from tokbook import packing

N_DOCS, MAX_LENGTH = 1_000_000, 2048

# Krell et al. (2021): number of Wikipedia BERT pre-training sequences of length 1, 2, ..., 512.
WIKIPEDIA_BERT_HISTOGRAM = np.array([
    0, 0, 0, 0, 1821, 1226, 1969, 1315, 1794, 1953, 3082, 3446, 4166, 5062, 9554, 16475,
    19173, 17589, 17957, 19060, 21555, 23524, 26954, 30661, 33470, 36614, 40134, 43256, 46094, 49350, 52153, 55428,
    58109, 60624, 63263, 64527, 65421, 66983, 68123, 68830, 70230, 70486, 72467, 72954, 73955, 74311, 74836, 74489,
    74990, 75377, 74954, 75096, 74784, 74698, 74337, 74638, 74370, 73537, 73597, 73153, 72358, 71580, 71082, 70085,
    69733, 69445, 67818, 67177, 66641, 65709, 64698, 63841, 63218, 62799, 61458, 60848, 60148, 59858, 58809, 58023,
    56920, 55999, 55245, 55051, 53979, 53689, 52819, 52162, 51752, 51172, 50469, 49907, 49201, 49060, 47948, 47724,
    46990, 46544, 46011, 45269, 44792, 44332, 43878, 43984, 42968, 42365, 42391, 42219, 41668, 41072, 40616, 40587,
    39999, 40169, 39340, 38906, 38438, 38142, 37757, 37818, 37535, 37217, 36757, 36589, 36151, 35953, 35531, 35496,
    35089, 35053, 34567, 34789, 34009, 33952, 33753, 33656, 33227, 32954, 32686, 32880, 32709, 31886, 32126, 31657,
    31466, 31142, 31106, 30650, 30316, 30494, 30328, 30157, 29611, 29754, 29445, 28921, 29271, 29078, 28934, 28764,
    28445, 28319, 28141, 28282, 27779, 27522, 27333, 27470, 27289, 27102, 27018, 27066, 26925, 26384, 26188, 26385,
    26392, 26082, 26062, 25660, 25682, 25547, 25425, 25072, 25079, 25346, 24659, 24702, 24862, 24479, 24288, 24127,
    24268, 24097, 23798, 23878, 23893, 23817, 23398, 23382, 23280, 22993, 23018, 23242, 22987, 22894, 22470, 22612,
    22452, 21996, 21843, 22094, 21916, 21756, 21955, 21444, 21436, 21484, 21528, 21597, 21301, 21197, 21281, 21066,
    20933, 21023, 20888, 20575, 20574, 20511, 20419, 20312, 20174, 20023, 20087, 19955, 19946, 19846, 19562, 19710,
    19556, 19477, 19487, 19387, 19225, 19069, 19360, 18655, 19034, 18763, 18800, 19012, 18893, 18714, 18645, 18577,
    18317, 18458, 18374, 18152, 17822, 18102, 17735, 17940, 17805, 17711, 17690, 17703, 17669, 17410, 17583, 17331,
    17313, 16892, 16967, 16870, 16926, 17233, 16845, 16861, 16576, 16685, 16455, 16687, 16747, 16524, 16473, 16349,
    16273, 16255, 16228, 16219, 16021, 16111, 15867, 15751, 16081, 15703, 15751, 15854, 15665, 15469, 15431, 15428,
    15464, 15517, 15335, 15461, 15237, 15292, 15305, 15351, 15078, 14810, 15119, 14780, 14664, 14869, 14722, 14890,
    14672, 14439, 14685, 14706, 14840, 14373, 14286, 14596, 14615, 14168, 14299, 13987, 14167, 14107, 14096, 14202,
    13985, 14118, 14094, 14127, 13896, 13864, 13597, 13572, 13717, 13669, 13782, 13617, 13284, 13333, 13425, 13457,
    13256, 13404, 13318, 13425, 13317, 13179, 13193, 13257, 13160, 12813, 13149, 13010, 12867, 12958, 12818, 12801,
    12749, 12810, 12575, 12673, 12514, 12735, 12523, 12677, 12298, 12469, 12341, 12445, 12477, 12326, 12110, 12087,
    12305, 12156, 12032, 12190, 12150, 11980, 12022, 11825, 11969, 11831, 11997, 11924, 11739, 11685, 11702, 11783,
    11783, 11659, 11647, 11610, 11526, 11577, 11538, 11536, 11497, 11480, 11374, 11234, 11433, 11466, 11475, 11147,
    11376, 11217, 11002, 11245, 11124, 11000, 11129, 10923, 10966, 11071, 11029, 11036, 10972, 11012, 10800, 10936,
    10904, 10750, 10669, 10766, 10780, 10675, 10905, 10511, 10598, 10583, 10658, 10471, 10667, 10601, 10430, 10440,
    10510, 10148, 10468, 10346, 10257, 10286, 10235, 10351, 10182, 10182, 10095, 10192, 9866, 10070, 10148, 9956,
    10132, 10043, 9741, 10003, 10056, 9920, 10021, 9838, 9854, 9740, 9782, 9799, 9798, 9788, 9840, 9747,
    9797, 9893, 9593, 9535, 9658, 9554, 9593, 9530, 9523, 9488, 9548, 9418, 9418, 9508, 9638, 9521,
    9277, 9289, 9255, 9322, 9281, 9351, 9259, 9255, 9225, 9098, 9268, 9227, 9224, 9106, 9239, 3815044,
], dtype=np.int64)
WIKIPEDIA_MAX_LENGTH = 512

# Reported by Krell et al. (2021) on that histogram, as the fraction of real tokens in the packs
# (their repository's README; SPFHP and LPFHP with at most 12 sequences per pack, NNLSHP with 3).
KRELL_REPORTED = {"SPFHP": 0.996040, "NNLSHP": 0.9975, "LPFHP": 0.998129}


def lognormal_lengths(n: int, max_length: int, seed: int = 0) -> np.ndarray:
    """Log-normal token counts (median 400, sigma 1.2), redrawn while above max_length."""
    rng = np.random.default_rng(seed)
    lengths = np.round(rng.lognormal(np.log(400), 1.2, n)).astype(np.int64)
    while (redo := (lengths > max_length) | (lengths < 1)).any():
        lengths[redo] = np.round(rng.lognormal(np.log(400), 1.2, int(redo.sum())))
    return lengths


def timed(function, *args, repeat: int = 1):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - started)
    return result, best


def row(name, lengths, n_rows, max_length, cut, seconds, most=1):
    bound = packing.lower_bound(lengths, max_length)
    return {
        "most": most,
        "method": name, "rows": n_rows, "rows / bound": n_rows / bound,
        "bound / rows": bound / n_rows, "efficiency": int(lengths.sum()) / (n_rows * max_length),
        "cut": cut, "seconds": seconds,
    }


def packers(lengths, max_length, slow: bool):
    """Measure every method on one set of lengths."""
    rows = [row("naive padding", lengths, len(lengths), max_length, 0, None)]
    cut, seconds = timed(packing.documents_cut, lengths, max_length)
    rows.append(row("concatenate-and-chunk", lengths, packing.lower_bound(lengths, max_length), max_length, cut,
                    seconds, most=None))
    methods = [("first fit, arrival order", packing.first_fit), ("first fit decreasing", packing.first_fit_decreasing),
               ("best fit decreasing", packing.best_fit_decreasing)] if slow else []
    for name, packer in methods:
        plan, seconds = timed(packer, lengths, max_length)
        rows.append(row(name, lengths, packing.n_rows(plan), max_length, 0, seconds, np.bincount(plan).max()))
    plan, seconds = timed(packing.histogram_best_fit, lengths, max_length, repeat=5)
    rows.append(row("histogram best fit (numpy)", lengths, packing.n_rows(plan), max_length, 0, seconds,
                    np.bincount(plan).max()))
    return rows


def print_table(title, rows):
    fast = rows[-1]["seconds"]
    print(f"\n{title}\n")
    print("| method | rows | rows / lower bound | lower bound / rows | real tokens / slots | documents cut "
          "| most documents in a row | seconds | time / histogram |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.3f}"
        ratio = "-" if r["seconds"] is None else f"{r['seconds'] / fast:.1f}"
        print(f"| {r['method']} | {r['rows']:,} | {r['rows / bound']:.6f} | {r['bound / rows']:.4%} "
              f"| {r['efficiency']:.4%} | {r['cut']:,} | {'-' if r['most'] is None else r['most']} | {seconds} | {ratio} |")


def corpus_documents(n_bytes: int):
    """Help topics and standard-library sources, one document each, cycled until n_bytes of UTF-8."""
    from pydoc_data.topics import topics

    root = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts)
    size = 0
    while True:
        for text in [topics[k] for k in sorted(topics)] + sources:
            if isinstance(text, Path):
                try:
                    text = text.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
            yield text
            size += len(text.encode("utf-8"))
            if size >= n_bytes:
                return


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, which starts afresh at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tokenize_child(job: dict) -> dict:
    """One tokenization run (in its own interpreter): speed and peak memory."""
    if job["pipeline"] == "datasets":
        return datasets_child(job)
    from tokbook.packing.tokenfile import tokenize_to_file

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        out = tokenize_to_file(corpus_documents(job["bytes"]), Path(tmp) / "corpus", encoding="gpt2",
                               workers=job["workers"])
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "tokens": out.meta["tokens"], "documents": out.meta["documents"],
                "bin_mb": out.stem.with_suffix(".bin").stat().st_size / 1e6,
                "parent_mb": peak_rss_mb(),
                "parent_cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                "workers_cpu": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
                "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def datasets_child(job: dict) -> dict:
    """The same run with Hugging Face datasets (the documents are held in memory, as from_dict needs)."""
    import datasets
    import pyarrow.compute as pc

    from tokbook.packing.hf import tokenize_with_datasets

    datasets.disable_progress_bars()
    started = time.perf_counter()
    out = tokenize_with_datasets(list(corpus_documents(job["bytes"])), "gpt2", num_proc=job["workers"])
    seconds = time.perf_counter() - started
    tokens = pc.sum(pc.list_value_length(out.data.column("input_ids"))).as_py()
    return {"seconds": seconds, "tokens": tokens, "documents": len(out), "bin_mb": None,
            "parent_mb": peak_rss_mb(),
            "parent_cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
            "workers_cpu": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
            "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def tokenize_table() -> None:
    print("\nTokenizing with GPT-2's encoding: tokbook's token file and Hugging Face datasets, 1 and 2 processes\n")
    print("| pipeline | processes | corpus MB | documents | tokens | seconds | MB/s | speed-up | parent CPU s "
          "| workers CPU s | parent peak MB | largest worker peak MB (upper bound) | token file MB |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    runs = [("token file", 8_000_000, 1), ("token file", 32_000_000, 1), ("token file", 32_000_000, 2),
            ("datasets", 32_000_000, 1), ("datasets", 32_000_000, 2)]
    one = {}
    for pipeline, n_bytes, workers in runs:
        job = json.dumps({"pipeline": pipeline, "bytes": n_bytes, "workers": workers})
        out = subprocess.run([sys.executable, __file__, "--tokenize-child", job], capture_output=True, text=True,
                             env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
        if out.returncode:
            raise RuntimeError(out.stderr)
        r = json.loads(out.stdout.splitlines()[-1])
        speed = n_bytes / 1e6 / r["seconds"]
        if n_bytes == 32_000_000 and workers == 1:
            one[pipeline] = speed
        up = f"{speed / one[pipeline]:.2f}" if workers > 1 else "-"
        bin_mb = "-" if r["bin_mb"] is None else f"{r['bin_mb']:.1f}"
        print(f"| {pipeline} | {workers} | {n_bytes / 1e6:.0f} | {r['documents']:,} | {r['tokens']:,} | {r['seconds']:.1f} "
              f"| {speed:.2f} | {up} | {r['parent_cpu']:.1f} | {r['workers_cpu']:.1f} | {r['parent_mb']:.0f} "
              f"| {r['worker_mb']:.0f} | {bin_mb} |")
    print(f"\ndatasets / token file, MB/s: 1 process {one['datasets'] / one['token file']:.2f}")


def main() -> None:
    tokenize_table()                          # first, while this process is small (children inherit its peak)
    lengths = lognormal_lengths(N_DOCS, MAX_LENGTH)
    print(f"{N_DOCS:,} log-normal documents, {int(lengths.sum()):,} tokens, mean {lengths.mean():.1f}, "
          f"median {np.median(lengths):.0f}, rows of {MAX_LENGTH}; "
          f"lower bound {packing.lower_bound(lengths, MAX_LENGTH):,} rows")
    print_table(f"Log-normal lengths, L = {MAX_LENGTH}", packers(lengths, MAX_LENGTH, slow=True))
    del lengths

    wiki = np.repeat(np.arange(1, WIKIPEDIA_MAX_LENGTH + 1), WIKIPEDIA_BERT_HISTOGRAM)
    print(f"\nKrell et al.'s Wikipedia histogram: {len(wiki):,} sequences, {int(wiki.sum()):,} tokens, "
          f"lower bound {packing.lower_bound(wiki, WIKIPEDIA_MAX_LENGTH):,} rows of {WIKIPEDIA_MAX_LENGTH}")
    print_table(f"Wikipedia BERT lengths, L = {WIKIPEDIA_MAX_LENGTH} (the item-by-item packers are left out to keep the run short)",
                packers(wiki, WIKIPEDIA_MAX_LENGTH, slow=False))
    print("\nReported by Krell et al. (2021) on the same histogram (real tokens / slots), cited, not rerun;"
          "\ntheir packs hold at most 12 sequences (SPFHP, LPFHP) or 3 (NNLSHP), ours have no such cap:")
    for name, value in KRELL_REPORTED.items():
        print(f"  {name}: {value:.4%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenize-child", help=argparse.SUPPRESS)
    parser.add_argument("--tokenize-only", action="store_true", help="print only the tokenization table")
    args = parser.parse_args()
    if args.tokenize_child:
        print(json.dumps(tokenize_child(json.loads(args.tokenize_child))))
    elif args.tokenize_only:
        tokenize_table()
    else:
        main()
