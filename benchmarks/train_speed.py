"""Training throughput: seconds per batch (IVIF + MFIF optimiser steps) for a grid of settings.

    python benchmarks/train_speed.py --crop 64 128 --batch 8 --threads 1 2 --precision fp32 bf16 --steps 3

Uses the real `Trainer.train_step` on a fixed batch (so data loading is timed separately, per batch) with a small
synthetic training folder. Reports wall-clock and process CPU seconds per step: on a shared machine the wall time
includes waiting for other processes, while CPU seconds / threads estimates the wall time on an idle machine.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.trainer import TrainConfig, Trainer


def synthetic_folder(root: Path, size: int) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("ir", "vis"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            img = (rng.random((size, size)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / sub / f"{i}.png")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crop", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--batch", type=int, nargs="+", default=[8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--precision", nargs="+", default=["fp32"])
    ap.add_argument("--channels-last", nargs="+", type=int, default=[1], help="1 (the default layout) and/or 0")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    data = synthetic_folder(tmp / "data", max(args.crop) + 16)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average at start {os.getloadavg()}")
    print("| crop | batch | threads | precision | channels_last | wall s/step | CPU s/step | data s/batch |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (crop, batch, threads, prec, cl) in enumerate(itertools.product(args.crop, args.batch, args.threads,
                                                                           args.precision, args.channels_last)):
        cfg = TrainConfig(data=str(data), out=str(tmp / f"run{i}"), crop=crop, batch=batch, threads=threads,
                          precision=prec, channels_last=bool(cl), device="cpu")
        tr = Trainer(cfg)
        t = time.perf_counter()
        b = tr.stream.batch(0, batch)
        data_s = time.perf_counter() - t
        tr.train_step(b)                                   # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            tr.train_step(b)
        wall, cpu = (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps
        print(f"| {crop} | {batch} | {threads} | {prec} | {cl} | {wall:.2f} | {cpu:.2f} | {data_s:.3f} |", flush=True)
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
