"""Training throughput: seconds per batch (one IVIF + one MFIF optimiser step) against a same-run matrix multiply.

    python benchmarks/train_speed.py --crop 64 128 --precision fp32 bf16 --steps 4

Each setting runs `Trainer.train_step` on one fixed batch of a small synthetic training folder (data loading is timed
separately), after one warm-up step. "s/batch" is the fastest of `--steps` timed steps (the median is shown too: on a
shared machine the minimum is the closest to an idle machine's time).

Effective GFLOP/s counts a fixed 9.9 MFLOP per crop pixel per batch: the work of the trainer as it stood on
2026-12-01 (IVIF step + MFIF step, forward and backward, the other task's no-grad passes, information weights and
MS-SSIM, counted with torch.utils.flop_counter). The yardstick stays fixed, so work the trainer stops doing counts as
speed. "x fp32 matmul" divides it by the rate of a 2048x2048 fp32 matrix product with the same threads, measured
around each setting (median of 5 before and 5 after): the machine's own scale, since virtual CPUs vary.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.trainer import TrainConfig, Trainer  # noqa: E402

FLOP_PER_PIXEL = 9.9e6   # per crop pixel per batch (both optimiser steps), fixed on 2026-12-01


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(dtype: torch.dtype, repeats: int = 5, n: int = 2048, device: str = "cpu") -> list[float]:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b
    sync()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        rates.append(2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return rates


def synthetic_folder(root: Path, size: int) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("ir", "vis"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            img = (rng.random((size, size)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / sub / f"{i}.png")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crop", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--batch", type=int, nargs="+", default=[8])
    ap.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--channels-last", nargs="+", type=int, default=[1], help="1 (the default layout) and/or 0")
    ap.add_argument("--steps", type=int, default=4, help="timed steps after one warm-up step")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda: the matmul yardstick runs there too")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    data = synthetic_folder(tmp / "data", max(args.crop) + 16)
    gpu = f", {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else ""
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}, {cpu_model()}, {os.cpu_count()} CPUs{gpu}, "
          f"torch {torch.__version__}, load average at start {os.getloadavg()[0]:.2f}")
    print("| crop | batch | threads | precision | channels-last | s/batch (median) | eff. GFLOP/s | fp32 matmul "
          "GFLOP/s | x fp32 matmul | bf16 matmul GFLOP/s | data s/batch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    settings = itertools.product(args.crop, args.batch, args.threads, args.precision, args.channels_last)
    for i, (crop, batch, threads, prec, cl) in enumerate(settings):
        cfg = TrainConfig(data=str(data), out=str(tmp / f"run{i}"), crop=crop, batch=batch, threads=threads,
                          precision=prec, channels_last=bool(cl), device=args.device)
        tr = Trainer(cfg)
        t = time.perf_counter()
        b = tr.stream.batch(0, batch)
        data_s = time.perf_counter() - t
        tr.train_step(b)                                   # warm-up
        ref = matmul_gflops(torch.float32, device=args.device)
        times = []
        for _ in range(args.steps):
            t = time.perf_counter()
            tr.train_step(b)
            times.append(time.perf_counter() - t)
        ref += matmul_gflops(torch.float32, device=args.device)
        bf16 = statistics.median(matmul_gflops(torch.bfloat16, device=args.device))
        fp32 = statistics.median(ref)
        best = min(times)
        eff = FLOP_PER_PIXEL * crop * crop * batch / best / 1e9
        print(f"| {crop} | {batch} | {threads} | {prec} | {cl} | {best:.2f} ({statistics.median(times):.2f}) | "
              f"{eff:.0f} | {fp32:.0f} | {eff / fp32:.2f} | {bf16:.0f} | {data_s:.3f} |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
