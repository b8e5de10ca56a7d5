"""How long the full set of 19 fusion metrics takes for one 640x480 RGB result (target: under 3 s on 2 cores).

    python benchmarks/bench_metrics.py [--repeats 7] [--shared ../shared]

Uses the VIFB pair `labMan` (640x480, colour visible, infrared) and one published result from ../shared when present,
otherwise synthetic 640x480 images of the same kind. Each repeat scores the result from the files (decoding
included) with all 19 metrics; the report gives the median and the spread, the per-metric medians, the machine
and the load average (other processes on a shared machine inflate the figures: run it when the machine is quiet).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.image import write_image
from gifnet.metrics import METRICS, measure, prepare


def inputs(shared: Path, tmp: Path) -> tuple[list[Path], str]:
    vifb = shared / "datasets/eval/vifb"
    fused = shared / "metrics/vifb/fused/labMan_IFCNN.jpg"
    if fused.is_file():
        return [fused, vifb / "ir/labMan.jpg", vifb / "vis/labMan.jpg"], "VIFB labMan (640x480), IFCNN result"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    base = 128 + 60 * np.sin(x / 23) * np.cos(y / 17)
    a = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
    b = np.clip(np.stack([base, base[::-1], base[:, ::-1]], -1) + rng.normal(0, 10, (480, 640, 3)), 0, 255)
    b = b.astype(np.uint8)
    f = ((a[..., None].astype(np.float32) + b) / 2).astype(np.uint8)
    paths = [write_image(img, tmp / f"{n}.png") for n, img in zip(("fused", "a", "b"), (f, a, b))]
    return paths, "synthetic 640x480 (no ../shared)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="gifnet.metrics.measure(threads=...)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", str(Path(__file__).resolve().parents[2]
                                                                          / "shared")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths, what = inputs(Path(args.shared), Path(tmp))
        measure(*paths, threads=args.threads)  # warm-up (imports, FFT plans)
        load0 = os.getloadavg()
        totals, cpu, per = [], [], {m: [] for m in METRICS}
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            measure(*paths, threads=args.threads)
            totals.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            p = prepare(*paths)
            for m in METRICS:
                t = time.perf_counter()
                measure(p, metrics=[m])
                per[m].append(time.perf_counter() - t)
        load1 = os.getloadavg()
    import torch

    print(f"date: {datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} CPU cores "
          f"({platform.processor() or 'unknown CPU'}), python {platform.python_version()}, numpy {np.__version__}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"input: {what}; load average before/after: {load0[0]:.2f} / {load1[0]:.2f}")
    print(f"all 19 metrics, from files, threads={args.threads}: median {statistics.median(totals):.2f} s "
          f"(min {min(totals):.2f}, max {max(totals):.2f}, {args.repeats} repeats); "
          f"CPU time of this process: median {statistics.median(cpu):.2f} s")
    print("per metric (median s): " + ", ".join(f"{m} {statistics.median(v):.3f}" for m, v in per.items()))


if __name__ == "__main__":
    main()
