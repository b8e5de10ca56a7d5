"""Where fused images lose SSIM: SSIM and high-pass energy in the flat, middle and edge thirds of each crop.

    python benchmarks/detail_by_region.py weights/gifnet-roadscene-cpu runs/e13_gamma_noise [--groups tno lytro]

For the validation crops of each group (`gifnet.validation.ValidationSet`: centre crops of `--pairs` pairs, evenly
spaced), the pixels are split into thirds by the sources' detail (the larger Sobel magnitude of the two, smoothed by
a Gaussian of sigma 3 px): flat, middle, edge. In each third it prints, per weights (the reference first: the authors'
checkpoint in $GIFNET_SHARED by default), the mean of the local SSIM map summed over both sources (Gaussian window
sigma 1.5, L = 1; range up to 2, like the "vifb" convention of `gifnet.metrics.ssim`) and the RMS of the fused image's
high-pass (F minus its Gaussian blur of sigma 2 px) in grey levels. Sharpening that lifts the flat third's high-pass
above the reference's costs SSIM there (BENCHMARKS.md, "Why grain").
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.data import convolve, gaussian_kernel  # noqa: E402
from gifnet.errors import GifnetError  # noqa: E402
from gifnet.hub import load_model  # noqa: E402
from gifnet.validation import EVAL_GROUPS, ValidationSet  # noqa: E402

SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32) / 4


def detail(x: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude, `(H, W)`."""
    return np.hypot(convolve(x, SOBEL), convolve(x, SOBEL.T))


def ssim_map(x: np.ndarray, y: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Local SSIM of two images in [0, 1] (Gaussian window, K1 = 0.01, K2 = 0.03, L = 1), `(H, W)`."""
    k, c1, c2 = gaussian_kernel(sigma), 0.01 ** 2, 0.03 ** 2
    mx, my = convolve(x, k), convolve(y, k)
    vx, vy, cxy = convolve(x * x, k) - mx * mx, convolve(y * y, k) - my * my, convolve(x * y, k) - mx * my
    return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def thirds(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """Masks of the flat, middle and edge thirds of the pixels by the sources' smoothed detail."""
    g = convolve(np.maximum(detail(a), detail(b)), gaussian_kernel(3.0))
    lo, hi = np.quantile(g, [1 / 3, 2 / 3])
    return [g < lo, (g >= lo) & (g < hi), g >= hi]


def region_scores(model: torch.nn.Module, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`(2, 3)`: SSIM with both sources and high-pass RMS (grey levels) in the flat, middle and edge thirds."""
    with torch.no_grad():
        f = model(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]).clamp(0, 1)[0, 0].numpy()
    s = ssim_map(f, a) + ssim_map(f, b)
    hp = (f - convolve(f, gaussian_kernel(2.0))) * 255
    masks = thirds(a, b)
    return np.array([[s[m].mean() for m in masks], [np.sqrt((hp[m] ** 2).mean()) for m in masks]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="weights to compare (folders, files, Hub ids)")
    ap.add_argument("--reference", help="the first row's weights (default: the authors' checkpoint in --shared)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--groups", nargs="*", choices=list(EVAL_GROUPS), help="these groups only (default: all)")
    ap.add_argument("--pairs", type=int, default=2, help="pairs per group (default 2, as the training validation)")
    ap.add_argument("--crop", type=int, default=256, help="centre-crop side (default 256)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = args.reference or str(Path(args.shared) / "checkpoints/official/Final.model")
    try:
        vset = ValidationSet.from_folder(Path(args.shared) / "datasets/eval", pairs=args.pairs, crop=args.crop)
        models = {w: load_model(w) for w in [reference, *args.weights]}
    except GifnetError as e:
        sys.exit(f"detail_by_region: error: {e}")
    print("| group | weights | SSIM flat | SSIM middle | SSIM edge | high-pass flat | middle | edge |")
    print("|---|---|---|---|---|---|---|---|")
    for group, crops in vset.groups.items():
        if args.groups and group not in args.groups:
            continue
        for name, model in models.items():
            m = np.mean([region_scores(model, a, b) for a, b in crops], axis=0)
            label = "reference" if name == reference else name
            print(f"| {group} | {label} | " + " | ".join(f"{v:.3f}" for v in m[0]) + " | "
                  + " | ".join(f"{v:.2f}" for v in m[1]) + " |")


if __name__ == "__main__":
    main()
