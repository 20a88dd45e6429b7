"""Causal attention: time and extra peak memory of four implementations, as ratios to torch's SDPA.

Run ``.venv/bin/python benchmarks/attention.py``. Shapes: 8 heads of size 64, float32, causal,
T = 512, 1024, 2048, 4096 with B = 8 (B = 2 at T = 4096, where the two T x T paths would need
more than 16 GB at B = 8). The four:

- naive torch: ``tokbook.attention.scaled_dot_product_attention`` on tensors, the readable path
  that materialises the (B, nh, T, T) scores;
- numpy: the same function on numpy arrays;
- block-wise: ``tokbook.attention.blockwise_attention`` (online softmax, default block size);
- torch SDPA: ``torch.nn.functional.scaled_dot_product_attention``, the peer.

Each measurement runs in a fresh interpreter: it makes the inputs, warms up on a small input, notes
resets the kernel's record of its peak memory (``/proc/self/clear_refs``) and notes its resident
memory, then runs the attention (best time of ``--repeat`` runs). "Extra MB" is the new peak
(VmHWM) minus the memory before the run: what the attention itself needed beyond its inputs, and
not what importing torch once took. Every implementation runs on one thread (torch and numpy's BLAS alike): on a
machine shared with other jobs, multi-threaded timings vary several-fold from run to run. The numbers
are ratios from one run on this machine; they are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

METHODS = ("naive torch", "numpy", "block-wise", "torch SDPA")
nh, hs = 8, 64


def child(job: dict) -> dict:
    """Run one measurement in a fresh interpreter and return what it printed (JSON)."""
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True,
                         env=dict(os.environ, **one_thread))
    if out.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), in MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def _reset_peak() -> None:
    """Make the recorded peak (VmHWM) the current RSS, so that importing torch does not count."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def run_child(job: dict) -> dict:
    import time

    import torch
    import torch.nn.functional as F

    from tokbook.attention import blockwise_attention, scaled_dot_product_attention

    torch.set_num_threads(1)
    method, B, T = job["method"], job["B"], job["T"]
    attend = {"naive torch": scaled_dot_product_attention, "numpy": scaled_dot_product_attention,
              "block-wise": blockwise_attention, "torch SDPA": F.scaled_dot_product_attention}[method]
    torch.manual_seed(0)
    q, k, v = torch.randn(3, B, nh, T, hs).unbind(0)                  # (B, nh, T, hs) each, float32
    small = [x[:1, :, :64] for x in (q, k, v)]
    if method == "numpy":
        q, k, v = q.numpy(), k.numpy(), v.numpy()
        small = [x.numpy() for x in small]
    attend(*small, is_causal=True)                                   # warm up (threads, kernels)
    _reset_peak()
    before = _status_mb("VmRSS")
    seconds = []
    for _ in range(job["repeat"]):
        started = time.perf_counter()
        out = attend(q, k, v, is_causal=True)
        seconds.append(time.perf_counter() - started)
        del out
    return {"seconds": min(seconds), "extra_mb": max(_status_mb("VmHWM") - before, 0.0)}


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "-|-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best time is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return

    import torch

    print(f"causal attention, {nh} heads of size {hs}, float32, one thread; torch {torch.__version__}, "
          f"{os.cpu_count()} cores\n")
    rows = []
    for T in args.lengths:
        B = 8 if T < 4096 else 2
        results = {m: child({"method": m, "B": B, "T": T, "repeat": args.repeat}) for m in METHODS}
        sdpa = results["torch SDPA"]
        for m, r in results.items():
            rows.append([T, B, m, f"{r['seconds']:.3f}", f"{r['seconds'] / sdpa['seconds']:.2f}",
                         f"{r['extra_mb']:.0f}", f"{r['extra_mb'] / max(sdpa['extra_mb'], 1):.1f}"])
    print(table(rows, ["T", "B", "method", "seconds", "x SDPA time", "extra MB", "x SDPA extra MB"]))


if __name__ == "__main__":
    main()
