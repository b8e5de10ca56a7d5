"""Where the medical EN gap comes from: the fused background where both sources are black.

    python benchmarks/medical_background.py weights/gifnet-roadscene-cpu [--limit 8]

For every pair of the Harvard CT-, PET- and SPECT-MRI sets (or `--limit N`, evenly spaced in name order) it fuses the
pair with our weights and with the authors' checkpoint through `gifnet.pipeline.fuse` (the colour path the evaluation
scores) and splits the image into the background, where both sources are below 5 grey levels (luma), and the rest.
Per group it prints the mean of:

- EN of our result and of the authors' (`gifnet.metrics.en`, the bar metric) and ours as % of theirs;
- EN of our result with the authors' background pasted in (ours everywhere else): how much of the gap is background;
- EN of our result with the sources' own background pasted in (the brighter source, pixel by pixel): the EN a
  faithful rendering of the background would score;
- EN of the foreground alone (the background pixels left out of the histogram), ours and theirs;
- the background's share of the image, its mean grey level and number of distinct levels in each result.

Data: $GIFNET_SHARED/datasets/eval and the authors' checkpoint (reference data, read in place).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet import metrics  # noqa: E402
from gifnet.evaluate import source_pairs  # noqa: E402
from gifnet.image import luma, read_image  # noqa: E402
from gifnet.pipeline import fuse  # noqa: E402
from gifnet.validation import EVAL_GROUPS  # noqa: E402

from evaluate_weights import eval_root, evenly_spaced, ours_and_authors  # noqa: E402  (this folder)

GROUPS = ("ct-mri", "pet-mri", "spect-mri")
DARK = 5 / 255          # "black": below 5 grey levels in both sources


def levels(x: np.ndarray) -> np.ndarray:
    """Grey levels 0..255 of a result (8-bit, or float in [0, 1] rounded), colour or grey, as the metrics read it."""
    return x.astype(np.int64) if x.dtype == np.uint8 else np.clip(np.floor(x * 255.0 + 0.5), 0, 255).astype(np.int64)


def entropy(pixels: np.ndarray) -> float:
    """EN of a set of pixels, `(N,)` grey or `(N, 3)` colour: the 256-bin histogram entropy in bits, averaged over the
    channels (the definition of `gifnet.metrics.en`, which needs whole images)."""
    lv = levels(pixels).reshape(len(pixels), -1)
    out = []
    for c in range(lv.shape[1]):
        p = np.bincount(lv[:, c], minlength=256) / len(lv)
        p = p[p > 0]
        out.append(float(-(p * np.log2(p)).sum()))
    return float(np.mean(out))


def as_result(x: np.ndarray, ndim: int) -> np.ndarray:
    """A source, `(H, W)` or `(H, W, 3)` in [0, 1], shaped as a result of `ndim` dimensions: grey repeated to three
    channels, or colour reduced to its luma."""
    if ndim == 3:
        return x if x.ndim == 3 else np.repeat(x[..., None], 3, axis=-1)
    return luma(x) if x.ndim == 3 else x


def row(model, reference, pa: Path, pb: Path, task: str) -> dict[str, float]:
    sa, sb = read_image(pa)[0], read_image(pb)[0]
    bg = (luma(sa) < DARK) & (luma(sb) < DARK)
    ours, theirs = fuse(pa, pb, task=task, model=model), fuse(pa, pb, task=task, model=reference)
    where = bg[..., None] if ours.ndim == 3 else bg
    pasted = np.where(where, theirs, ours)
    sources = np.maximum(as_result(sa, ours.ndim), as_result(sb, ours.ndim))          # the brighter, per pixel
    faithful = np.where(where, sources, read_image(ours)[0])                         # ours as floats in [0, 1]
    fg = ~bg
    en_ours = metrics.en(ours, pa, pb)
    assert abs(entropy(ours.reshape(-1, *ours.shape[2:])) - en_ours) < 1e-6, "entropy() differs from metrics.en"
    lv_ours, lv_theirs = levels(ours)[bg], levels(theirs)[bg]
    return {
        "en ours": en_ours, "en theirs": metrics.en(theirs, pa, pb),
        "en pasted": metrics.en(pasted, pa, pb),
        "en src bg": metrics.en(faithful, pa, pb),
        "bg mean sources": levels(sources)[bg].mean() if bg.any() else np.nan,
        "fg en ours": entropy(ours[fg]) if fg.any() else np.nan,
        "fg en theirs": entropy(theirs[fg]) if fg.any() else np.nan,
        "bg share": bg.mean(),
        "bg mean ours": lv_ours.mean() if bg.any() else np.nan,
        "bg mean theirs": lv_theirs.mean() if bg.any() else np.nan,
        "bg levels ours": len(np.unique(lv_ours)), "bg levels theirs": len(np.unique(lv_theirs)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours", help="our weights (folder, file or Hub id)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--limit", type=int, default=None, help="N pairs of each set only, evenly spaced")
    args = ap.parse_args()
    root = eval_root(args.shared)
    model, reference = ours_and_authors(args.ours, args.shared)
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}: {args.ours} against the authors' checkpoint; "
          f"background = both sources below 5 grey levels\n")
    print("| group | pairs | bg share | EN ours / theirs | EN, their bg pasted into ours | EN, the sources' bg pasted "
          "into ours | foreground EN ours / theirs | bg mean sources / ours / theirs | bg distinct levels ours / "
          "theirs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in GROUPS:
        folder, sa, sb, task = EVAL_GROUPS[name]
        pairs = source_pairs(root / folder / sa, root / folder / sb)         # paired by name, as the evaluation
        rows = [row(model, reference, pairs[i][1], pairs[i][2], task) for i in evenly_spaced(len(pairs), args.limit)]
        m = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
        print(f"| {name} | {len(rows)} | {m['bg share']:.0%} | {m['en ours']:.2f} / {m['en theirs']:.2f} "
              f"({100 * m['en ours'] / m['en theirs']:.0f} %) | {m['en pasted']:.2f} "
              f"({100 * m['en pasted'] / m['en theirs']:.0f} %) | {m['en src bg']:.2f} "
              f"({100 * m['en src bg'] / m['en theirs']:.0f} %) | {m['fg en ours']:.2f} / "
              f"{m['fg en theirs']:.2f} ({100 * m['fg en ours'] / m['fg en theirs']:.0f} %) | "
              f"{m['bg mean sources']:.1f} / {m['bg mean ours']:.1f} / "
              f"{m['bg mean theirs']:.1f} | {m['bg levels ours']:.0f} / {m['bg levels theirs']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
