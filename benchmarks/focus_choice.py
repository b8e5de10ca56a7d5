"""Does a network choose the source that carries the detail, or average the two? And how much does it enhance it?

    python benchmarks/focus_choice.py official benchmarks/campaign/release128.safetensors weights/gifnet-roadscene-cpu \
        [--groups lytro tno] [--limit 6]

For `--limit` evenly spaced pairs of each group (the pairs of `evaluate_weights.py --limit`), each network fuses the
pair (`gifnet.fuse`, the group's task). Detail energy is the local mean (Gaussian, sigma 4 px) of the squared high-pass
(the image minus its Gaussian blur of sigma 2 px), on luma in [0, 1]. Where one source has at least 4x the other's
energy (and more than the 30th percentile of the larger of the two), that source is the one in focus (multi-focus
pairs) or the one that carries the detail (infrared-visible pairs). In those regions, per network:

    retention   mean energy of the fusion / mean energy of that source: about 1 for a network that copies it, far
                below 1 for one that averages the two sources (the script prints the plain average's, for scale),
                above 1 for one that sharpens what it takes
    mae         mean absolute difference from that source in grey levels (tone changes count here too)

BENCHMARKS.md, "Does release128 choose the focused source?", is the measurement this script makes.
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
from gifnet.data import convolve, gaussian_kernel  # noqa: E402
from gifnet.errors import GifnetError  # noqa: E402
from gifnet.evaluate import source_pairs  # noqa: E402
from gifnet.hub import load_model  # noqa: E402
from gifnet.image import luma, read_image  # noqa: E402
from gifnet.validation import EVAL_GROUPS  # noqa: E402

DOMINANCE = 4.0       # one source's energy at least this multiple of the other's
FLOOR = 0.3           # ... and above this quantile of the larger energy (not a flat region)


def energy(x: np.ndarray) -> np.ndarray:
    """Local detail energy of an `(H, W)` image: Gaussian(4) of (x - Gaussian(2) of x) squared."""
    return convolve((x - convolve(x, gaussian_kernel(2.0))) ** 2, gaussian_kernel(4.0))


def choice(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> tuple[float, float, float] | None:
    """(retention, mae in grey levels, the plain average's retention) over the regions where one source dominates,
    each region weighted equally; None when neither region has 100 pixels."""
    ea, eb, ef = energy(a), energy(b), energy(fused)
    eavg = energy((a + b) / 2)
    floor = np.quantile(np.maximum(ea, eb), FLOOR)
    regions = [(m, src, e) for m, src, e in (((ea > DOMINANCE * eb) & (ea > floor), a, ea),
                                             ((eb > DOMINANCE * ea) & (eb > floor), b, eb)) if m.sum() >= 100]
    if not regions:
        return None
    return (float(np.mean([ef[m].mean() / e[m].mean() for m, _, e in regions])),
            float(np.mean([255 * np.abs(fused - src)[m].mean() for m, src, _ in regions])),
            float(np.mean([eavg[m].mean() / e[m].mean() for m, _, e in regions])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="+", help="networks ('official': the authors' checkpoint in --shared)")
    ap.add_argument("--groups", nargs="+", default=["lytro", "tno"], choices=list(EVAL_GROUPS))
    ap.add_argument("--limit", type=int, default=6, help="pairs of each group, evenly spaced (default 6)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        root = eval_root(args.shared)
        official = str(Path(args.shared) / "checkpoints" / "official" / "Final.model")
        models = {w: load_model(official if w == "official" else w) for w in args.weights}
    except GifnetError as e:
        sys.exit(f"focus_choice: error: {e}")
    print(f"# {datetime.datetime.now():%Y-%m-%d %H:%M}, {args.limit} pairs per group, luma; regions where one source "
          f"has >= {DOMINANCE:g}x the other's detail energy")
    print("| group | weights | retention | mae (grey levels) | the plain average's retention |")
    print("|---|---|---|---|---|")
    for group in args.groups:
        folder, sa, sb, task = EVAL_GROUPS[group]
        pairs = source_pairs(root / folder / sa, root / folder / sb)
        pairs = [pairs[i] for i in evenly_spaced(len(pairs), args.limit)]
        sources = [tuple(luma(read_image(p)[0]).astype(np.float32) for p in (pa, pb)) for _, pa, pb in pairs]
        for w, model in models.items():
            rows = [choice(a, b, luma(read_image(fuse(pa, pb, task=task, model=model))[0]).astype(np.float32))
                    for (a, b), (_, pa, pb) in zip(sources, pairs)]
            r = np.array([x for x in rows if x is not None])
            print(f"| {group} | {w} | {r[:, 0].mean():.2f} | {r[:, 1].mean():.1f} | {r[:, 2].mean():.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
