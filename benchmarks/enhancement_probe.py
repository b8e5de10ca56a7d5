"""How much a network sharpens and stretches one image given in both slots: fusion faithfulness vs enhancement.

    python benchmarks/enhancement_probe.py weights/gifnet-roadscene-cpu official [--crop 384] [--sigma 0 1]

A fusion network given the same sharp image twice has nothing to fuse; a faithful one returns it, an enhancing one
returns it sharper and more contrasted. For the first pair of each evaluation group (its slot-b image: visible, far
focus, under-exposed, MRI), centre-cropped and optionally blurred by a Gaussian of `--sigma` pixels, the script runs
each network on (x, x) and prints the output's SF and SD as ratios to the input's (`gifnet.metrics`, VIFB
convention), the RMS difference to the input and the change of the mean (positive: brighter), both in grey levels.
"official" means the authors' checkpoint in $GIFNET_SHARED. This is the measurement behind the weights issue's
findings that the authors' checkpoint enhances and brightens (BENCHMARKS.md, "Learning curves").
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
from gifnet import metrics  # noqa: E402
from gifnet.data import convolve, gaussian_kernel  # noqa: E402
from gifnet.hub import load_model  # noqa: E402
from gifnet.image import list_images, luma, read_image  # noqa: E402
from gifnet.validation import EVAL_GROUPS  # noqa: E402


def probe_images(root: Path, crop: int) -> dict[str, np.ndarray]:
    """The first slot-b image of each group, as a centre-cropped grey (H, W) array in [0, 1]."""
    out = {}
    for name, (folder, _, slot_b, _) in EVAL_GROUPS.items():
        y = luma(read_image(list_images(root / folder / slot_b)[0])[0])
        h, w = y.shape
        c = min(crop, h, w)
        out[name] = np.ascontiguousarray(y[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="weights to probe (folders, files, Hub ids; 'official')")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--crop", type=int, default=384)
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.0, 1.0], help="input blur(s) in pixels")
    args = ap.parse_args()
    shared = Path(args.shared)
    images = probe_images(shared / "datasets" / "eval", args.crop)
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}: one image of each group in both slots, "
          f"{args.crop}x{args.crop} centre crops; output / input\n")
    print("| weights | input blur | " + " | ".join(images) + " | mean |")
    print("|---|---|" + "---|" * (len(images) + 1))
    for w in args.weights:
        model = load_model(shared / "checkpoints/official/Final.model" if w == "official" else w)
        for sigma in args.sigma:
            cells, sf_r, sd_r, lift = [], [], [], []
            for x in images.values():
                x = convolve(x, gaussian_kernel(sigma)) if sigma else x
                t = torch.from_numpy(x)[None, None]
                with torch.no_grad():
                    y = model(t, t).clamp(0, 1)[0, 0].numpy()
                sf_r.append(metrics.sf(y, x, x) / metrics.sf(x, x, x))
                sd_r.append(metrics.sd(y, x, x) / metrics.sd(x, x, x))
                rms = 255 * float(np.sqrt(np.mean((y - x) ** 2)))
                lift.append(255 * float(y.mean() - x.mean()))
                cells.append(f"SF ×{sf_r[-1]:.2f}, SD ×{sd_r[-1]:.2f}, {rms:.1f}, {lift[-1]:+.1f}")
            print(f"| {w} | {sigma:g} | " + " | ".join(cells) +
                  f" | SF ×{np.mean(sf_r):.2f}, SD ×{np.mean(sd_r):.2f}, {np.mean(lift):+.1f} |", flush=True)


if __name__ == "__main__":
    main()
