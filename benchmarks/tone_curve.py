"""A fusion's tone curve: how much brighter or darker than its sources it renders each grey level, on whole pairs.

    python benchmarks/tone_curve.py official weights/gifnet-roadscene-cpu [--groups lytro tno] [--limit 4]

For `--limit` evenly spaced pairs of each group (`gifnet.validation.EVAL_GROUPS`), each network fuses the pair
(`gifnet.fuse`, the group's task) and the script compares local means: the 7x7 box mean of the fused luma against the
7x7 box mean of the two sources' mean, binned by that source level (grey levels 0-16, 16-32, 32-64, 64-128, 128-192,
192-256). Each cell is the mean difference in grey levels (positive: the fusion is brighter there) and the share of
pixels in the bin. SSIM's luminance term compares exactly these local means, and it is most sensitive where they
are small: a fusion that darkens the shadows by a few grey levels loses SSIM there. "official" means the authors'
checkpoint in $GIFNET_SHARED. This is the measurement behind BENCHMARKS.md, "Why the tone curve".

`--ssim-terms` also splits each network's SSIM with each source into Wang et al.'s three terms (`ssim_terms`), to tell
a tone shift (the luminance term) from over- or under-stretched local contrast (the contrast term) and from the wrong
mix of the two sources' structure (the structure term).
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
from gifnet.metrics import SSIM_WINDOW, _fft_filter  # noqa: E402  (the window and filter of gifnet.metrics.ssim)
from gifnet.validation import EVAL_GROUPS  # noqa: E402

BINS = (0, 16, 32, 64, 128, 192, 256)


def box_mean(x: np.ndarray, k: int = 7) -> np.ndarray:
    """Mean over every k x k window ('valid' region), by summed-area table."""
    c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def fused_pairs(model, pairs, task: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(a, b, fused) of each pair as luma in grey levels, each pair fused once for every table."""
    out = []
    for _, pa, pb in pairs:
        a, b = (255 * luma(read_image(p)[0]).astype(np.float64) for p in (pa, pb))
        f = 255 * luma(read_image(fuse(pa, pb, task=task, model=model))[0]).astype(np.float64)
        out.append((a, b, f))
    return out


def tone_curve(fused: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per bin of the sources' local mean: the mean fused-minus-sources difference and the pixel share."""
    diff, count = np.zeros(len(BINS) - 1), np.zeros(len(BINS) - 1)
    for a, b, f in fused:
        src, out = box_mean((a + b) / 2), box_mean(f)
        idx = np.digitize(src, BINS[1:-1])
        diff += np.bincount(idx.ravel(), (out - src).ravel(), len(BINS) - 1)
        count += np.bincount(idx.ravel(), minlength=len(BINS) - 1)
    return diff / np.maximum(count, 1), count / count.sum()


def ssim_terms(fused: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per source (rows: slot a, slot b), the means over the pairs of the mean luminance l, contrast c and structure s
    terms of SSIM(F, source) on luma in grey levels (11x11 Gaussian window sigma 1.5, 'valid'; L = 255, K1 = 0.01,
    K2 = 0.03, C3 = C2 / 2, so that l c s is the SSIM map of `gifnet.metrics.ssim`), their product's mean (the SSIM on
    luma), and the mean local standard deviation of F over the source's: above 1, the fusion stretches local contrast."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    rows = []
    for a, b, f in fused:
        for x in (a, b):
            mx, mf, xx, ff, xf = _fft_filter(np.stack([x, f, x * x, f * f, x * f]), [SSIM_WINDOW], pad="valid")[0]
            sx, sf_ = np.sqrt(np.maximum(xx - mx * mx, 0)), np.sqrt(np.maximum(ff - mf * mf, 0))
            lum = (2 * mx * mf + c1) / (mx * mx + mf * mf + c1)
            con = (2 * sx * sf_ + c2) / (sx * sx + sf_ * sf_ + c2)
            st = (xf - mx * mf + c2 / 2) / (sx * sf_ + c2 / 2)
            rows.append([lum.mean(), con.mean(), st.mean(), (lum * con * st).mean(), sf_.mean() / sx.mean()])
    return np.asarray(rows).reshape(len(fused), 2, 5).mean(0)


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
    ap.add_argument("--ssim-terms", action="store_true", help="also split SSIM with each source into its terms")
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
    terms = []
    for g in args.groups:
        folder, slot_a, slot_b, task = EVAL_GROUPS[g]
        root = eval_dir / folder
        pairs = source_pairs(root / slot_a, root / slot_b)
        pairs = [pairs[i] for i in evenly_spaced(len(pairs), args.limit)]
        for w, m in models.items():
            fused = fused_pairs(m, pairs, task)
            d, share = tone_curve(fused)
            print(f"| {g} | {w} | " + " | ".join(f"{x:+.1f} ({100 * s:.0f} %)" for x, s in zip(d, share)) + " |",
                  flush=True)
            if args.ssim_terms:
                terms += [f"| {g} | {w} | {slot} | " + " | ".join(f"{x:.3f}" for x in t[:4]) + f" | {t[4]:.2f} |"
                          for slot, t in zip((slot_a, slot_b), ssim_terms(fused))]
    if args.ssim_terms:
        print("\nSSIM with each source split into its terms, on luma: luminance l, contrast c, structure s, their "
              "product (SSIM), and the fusion's local standard deviation over the source's (sd ratio)\n")
        print("| group | weights | source | l | c | s | SSIM | sd ratio |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(terms))

if __name__ == "__main__":
    main()
