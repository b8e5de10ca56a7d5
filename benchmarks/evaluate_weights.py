"""Our weights against the authors' checkpoint on the evaluation sets: the quality bar of the training issue.

    python benchmarks/evaluate_weights.py --ours weights/gifnet-roadscene-cpu [--limit 8] [--out runs/eval]

For every task group it fuses the pairs with both models (`gifnet.evaluate.score_models`), and prints a Markdown table
of the mean of each bar metric per model and ours / authors' in percent (the bar: >= 95 % on EN, SD, SF, AG, MI, Qabf,
VIF and SSIM in every group). `--limit N` scores only the first N pairs of each set (sorted by name) to fit a CPU budget;
the table says so. Data: $GIFNET_SHARED/datasets/eval (reference data, read in place).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.evaluate import score_models  # noqa: E402

GROUPS = [  # name, folder a, folder b, task
    ("TNO (IVIF)", "tno/ir", "tno/vis", "ivif"),
    ("VIFB (IVIF)", "vifb/ir", "vifb/vis", "ivif"),
    ("Lytro (MFIF)", "lytro/a", "lytro/b", "mfif"),
    ("MEFB (MEIF)", "mefb/a", "mefb/b", "meif"),
    ("Harvard PET-MRI", "harvard/pet-mri/pet", "harvard/pet-mri/mri", "medical"),
    ("Harvard SPECT-MRI", "harvard/spect-mri/spect", "harvard/spect-mri/mri", "medical"),
]
BAR = ["en", "sd", "sf", "ag", "mi", "qabf", "vif", "ssim"]


def subset(src: Path, dst: Path, limit: int | None) -> Path:
    """A folder of symlinks to the first `limit` files of `src` (all when None)."""
    dst.mkdir(parents=True)
    for f in sorted(p for p in src.iterdir() if p.is_file())[:limit]:
        (dst / f.name).symlink_to(f.resolve())
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="our weights (folder, file or Hub id)")
    ap.add_argument("--reference", default="official", help="the weights to compare against (default: the authors')")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--limit", type=int, default=None, help="first N pairs of each set only")
    ap.add_argument("--groups", nargs="*", help="subset of group names (default: all)")
    args = ap.parse_args()
    root = Path(args.shared) / "datasets" / "eval"
    rows, met = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for name, da, db, task in GROUPS:
            if args.groups and not any(g.lower() in name.lower() for g in args.groups):
                continue
            t0 = time.time()
            a = subset(root / da, Path(tmp, name, "a"), args.limit)
            b = subset(root / db, Path(tmp, name, "b"), args.limit)
            s = score_models(a, b, [args.ours, args.reference], task=task, metrics=BAR)
            means = s.mean()                    # (2 models, metrics)
            ratios = 100 * means[0] / means[1]
            met &= bool((ratios >= 95).all())
            rows.append((name, len(s.images), means, ratios))
            print(f"{name}: {len(s.images)} pairs in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"| group | pairs | " + " | ".join(m.upper() for m in BAR) + " |")
    print("|---|---|" + "---|" * len(BAR))
    for name, n, means, ratios in rows:
        cells = [f"{means[0, j]:.3g} / {means[1, j]:.3g} ({ratios[j]:.0f} %)" for j in range(len(BAR))]
        print(f"| {name} | {n} | " + " | ".join(cells) + " |")
    print(f"\nours / {args.reference} (ours as % of theirs); bar (>= 95 % everywhere) {'MET' if met else 'NOT met'}"
          + (f"; first {args.limit} pairs of each set" if args.limit else ""))


if __name__ == "__main__":
    main()
