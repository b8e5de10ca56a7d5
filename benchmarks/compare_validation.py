"""Several weights on the trainer's validation crops, as ratios to a reference: which weights are better.

    python benchmarks/compare_validation.py weights/gifnet-roadscene-cpu runs/campaign64 [--pairs 2] [--crop 256]

The same `gifnet.validation` set and summary the trainer logs (`--val`, `--val-reference`): per weights, the mean and
the minimum over groups and metrics of ours / reference, how many of those cells miss the bar (0.95) and by how much in
all (`gap`), and each bar metric's worst group. The weights issue replaces the bundled weights when new ones beat them
here. Data: $GIFNET_SHARED/datasets/eval and the authors' checkpoint.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.hub import load_model  # noqa: E402
from gifnet.validation import BAR_METRICS, ValidationSet, ratios, score  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="weights to compare (folders, files, Hub ids)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--reference", help="default: the authors' checkpoint in --shared")
    ap.add_argument("--pairs", type=int, default=2, help="pairs per group (the campaign validates with 2)")
    ap.add_argument("--crop", type=int, default=256)
    args = ap.parse_args()
    shared = Path(args.shared)
    vset = ValidationSet.from_folder(shared / "datasets" / "eval", pairs=args.pairs, crop=args.crop)
    reference = score(load_model(args.reference or shared / "checkpoints/official/Final.model"), vset)
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}: {len(vset)} crops of {args.crop} px "
          f"({args.pairs} per group); ratio to the reference\n")
    print("| weights | mean | min | below | gap | " + " | ".join(f"worst {m}" for m in BAR_METRICS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(BAR_METRICS))
    for w in args.weights:
        r = ratios(score(load_model(w), vset), reference)
        cells = " | ".join(f"{r[f'worst/{m}']:.2f}" for m in BAR_METRICS)
        print(f"| {w} | {r['mean']:.3f} | {r['min']:.3f} | {r['below']:.0f} | {r['gap']:.2f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
