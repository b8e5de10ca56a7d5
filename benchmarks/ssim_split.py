"""Where a group's SSIM gap comes from: each source's side of the SSIM, pair by pair, ours against the authors'.

    python benchmarks/ssim_split.py weights/gifnet-roadscene-cpu [--group tno] [--limit 8]

The bar's SSIM (`gifnet.metrics.ssim`, VIFB convention) is SSIM(A, F) + SSIM(B, F). For every pair of the group (or
`--limit N`, evenly spaced in name order) it fuses the pair with our weights and with the authors' checkpoint through
`gifnet.pipeline.fuse` (the path the evaluation scores) and prints, ours as a ratio to theirs: SSIM with slot a's
source (e.g. infrared), SSIM with slot b's (visible), their sum (the bar's cell), and SF (`gifnet.metrics.sf`, how much
sharper ours is). The pairs are sorted by the SSIM ratio; the summary gives the mean of each column and the
correlations that say whether the gap follows the sharpening (SSIM against SF) or a different balance of the two
sources (slot a's side against slot b's).

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
from gifnet.pipeline import fuse  # noqa: E402
from gifnet.validation import EVAL_GROUPS  # noqa: E402

from evaluate_weights import eval_root, evenly_spaced, ours_and_authors  # noqa: E402  (this folder)


def sides(fused: np.ndarray, pa: Path, pb: Path) -> tuple[float, float]:
    """SSIM(A, F) and SSIM(B, F): `metrics.ssim` with one source in both slots, halved."""
    return metrics.ssim(fused, pa, pa) / 2, metrics.ssim(fused, pb, pb) / 2


def row(model, reference, pa: Path, pb: Path, task: str) -> tuple[float, float, float, float]:
    """Ours / theirs: SSIM with a, SSIM with b, the bar's SSIM (their sum), SF."""
    ours, theirs = fuse(pa, pb, task=task, model=model), fuse(pa, pb, task=task, model=reference)
    (oa, ob), (ta, tb) = sides(ours, pa, pb), sides(theirs, pa, pb)
    return oa / ta, ob / tb, (oa + ob) / (ta + tb), metrics.sf(ours, pa, pb) / metrics.sf(theirs, pa, pb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours", help="our weights (folder, file or Hub id)")
    ap.add_argument("--group", default="tno", choices=sorted(EVAL_GROUPS))
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--limit", type=int, default=None, help="N pairs only, evenly spaced")
    args = ap.parse_args()
    root = eval_root(args.shared)
    model, reference = ours_and_authors(args.ours, args.shared)
    folder, sa, sb, task = EVAL_GROUPS[args.group]
    pairs = source_pairs(root / folder / sa, root / folder / sb)
    picked = [pairs[i] for i in evenly_spaced(len(pairs), args.limit)]
    rows = {name: row(model, reference, pa, pb, task) for name, pa, pb in picked}
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}: {args.ours} / the authors' checkpoint, "
          f"{args.group}, {len(rows)} pairs\n")
    print(f"| pair | SSIM with {sa} | SSIM with {sb} | SSIM (the bar's) | SF |")
    print("|---|---|---|---|---|")
    for name, r in sorted(rows.items(), key=lambda kv: kv[1][2]):
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in r) + " |")
    x = np.array(list(rows.values()))
    print("| mean | " + " | ".join(f"{v:.3f}" for v in x.mean(0)) + " |\n")
    if len(x) > 2:
        corr = np.corrcoef(x.T)
        print(f"correlation over pairs: SSIM with SF {corr[2, 3]:+.2f}, SSIM with {sa} with SSIM with {sb} "
              f"{corr[0, 1]:+.2f}; pairs below 0.9: {int((x[:, 2] < 0.9).sum())}, their mean SF ratio "
              f"{x[x[:, 2] < 0.9, 3].mean() if (x[:, 2] < 0.9).any() else float('nan'):.2f} (the others "
              f"{x[x[:, 2] >= 0.9, 3].mean() if (x[:, 2] >= 0.9).any() else float('nan'):.2f})")


if __name__ == "__main__":
    main()
