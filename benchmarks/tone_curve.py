"""A fusion's tone curve: how much brighter or darker than its sources it renders each grey level, on whole pairs.

    python benchmarks/tone_curve.py official weights/gifnet-roadscene-cpu [--groups lytro tno] [--limit 4]

For `--limit` evenly spaced pairs of each group (`gifnet.validation.EVAL_GROUPS`), each network fuses the pair
(`gifnet.fuse`, the group's task) and the script compares local means: the 7x7 box mean of the fused luma against the
7x7 box mean of the two sources' mean, binned by that source level (grey levels 0-16, 16-32, 32-64, 64-128, 128-192,
192-256). Each cell is the mean difference in grey levels (positive: the fusion is brighter there) and the share of
pixels in the bin. SSIM's luminance term compares exactly these local means, and it is most sensitive where they
are small: a fusion that darkens the shadows by a few grey levels loses SSIM there. "official" means the authors'
checkpoint in $GIFNET_SHARED. This is the measurement behind BENCHMARKS.md, "Why the tone curve".
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluate_weights import eval_root, evenly_spaced  # noqa: E402  (the same pairs as its --limit)
from gifnet import fuse  # noqa: E402
from gifnet.errors import GifnetError  # noqa: E402
from gifnet.evaluate import source_pairs  # noqa: E402
from gifnet.hub import load_model  # noqa: E402
from gifnet.image import luma, read_image  # noqa: E402
from gifnet.validation import EVAL_GROUPS  # noqa: E402

BINS = (0, 16, 32, 64, 128, 192, 256)


def box_mean(x: np.ndarray, k: int = 7) -> np.ndarray:
    """Mean over every k x k window ('valid' region), by summed-area table."""
    c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def tone_curve(model, pairs, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Per bin of the sources' local mean: the mean fused-minus-sources difference and the pixel share."""
    diff, count = np.zeros(len(BINS) - 1), np.zeros(len(BINS) - 1)
    for _, pa, pb in pairs:
        a, b = (255 * luma(read_image(p)[0]).astype(np.float64) for p in (pa, pb))
        f = 255 * luma(read_image(fuse(pa, pb, task=task, model=model))[0]).astype(np.float64)
        src, out = box_mean((a + b) / 2), box_mean(f)
        idx = np.digitize(src, BINS[1:-1])
        diff += np.bincount(idx.ravel(), (out - src).ravel(), len(BINS) - 1)
        count += np.bincount(idx.ravel(), minlength=len(BINS) - 1)
    return diff / np.maximum(count, 1), count / count.sum()


def main() -> None:
    try:
        run()
    except GifnetError as e:
        sys.exit(f"tone_curve: error: {e}")


def run() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="weights to probe (folders, files, Hub ids; 'official')")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--groups", nargs="+", default=["tno", "lytro"], choices=list(EVAL_GROUPS))
    ap.add_argument("--limit", type=int, default=4, help="pairs of each group, evenly spaced in name order")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.limit < 1:
        ap.error(f"--limit must be at least 1 pair, got {args.limit}")
    if args.threads:
        torch.set_num_threads(args.threads)
    shared, eval_dir = Path(args.shared), eval_root(args.shared)    # a clear exit when the data is missing
    models = {w: load_model(shared / "checkpoints/official/Final.model" if w == "official" else w)
              for w in args.weights}
    labels = [f"{lo}–{hi}" for lo, hi in zip(BINS, BINS[1:])]
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}: fused minus sources, 7x7 local means, grey "
          f"levels, by the sources' level ({args.limit} pairs per group)\n")
    print("| group | weights | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for g in args.groups:
        folder, slot_a, slot_b, task = EVAL_GROUPS[g]
        root = eval_dir / folder
        pairs = source_pairs(root / slot_a, root / slot_b)
        pairs = [pairs[i] for i in evenly_spaced(len(pairs), args.limit)]
        for w, m in models.items():
            d, share = tone_curve(m, pairs, task)
            print(f"| {g} | {w} | " + " | ".join(f"{x:+.1f} ({100 * s:.0f} %)" for x, s in zip(d, share)) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
