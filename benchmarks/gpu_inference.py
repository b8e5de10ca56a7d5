"""Inference speed on a CUDA GPU: megapixels per second of `gifnet.pipeline.run_network` (the engine the CLI and
the demo use) at 640x480, 1280x1024 and 3840x2160, fp32 and bf16, the bundled weights.

    python benchmarks/gpu_inference.py [--device cuda] [--sizes 640x480 1280x1024 3840x2160] [--repeats 3]

Each row: one warm-up call, then the fastest of `--repeats` timed calls (host planes in, host plane out: what a
caller sees). Prints a Markdown table with the GPU, the date and a same-run fp32/bf16 matmul rate.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.hub import load_model  # noqa: E402
from gifnet.pipeline import run_network  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import matmul_gflops  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", nargs="+", default=["640x480", "1280x1024", "3840x2160"])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model = load_model(device=args.device)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    fp32 = float(np.median(matmul_gflops(torch.float32, device=args.device)))
    bf16 = float(np.median(matmul_gflops(torch.bfloat16, device=args.device)))
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}, {name}, torch {torch.__version__}; "
          f"matmul 2048^2: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s")
    print("| size | precision | s (best) | MP/s |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        a, b = rng.random((2, h, w), dtype=np.float32)
        for precision in args.precision:
            run_network(model, a, b, precision=precision)                # warm-up
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                run_network(model, a, b, precision=precision)
                times.append(time.perf_counter() - t)
            print(f"| {w}x{h} | {precision} | {min(times):.3f} | {w * h / 1e6 / min(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
