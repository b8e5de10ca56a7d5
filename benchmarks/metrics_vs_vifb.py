"""How closely gifnet.metrics reproduces the VIFB benchmark's own MATLAB values.

    python benchmarks/metrics_vs_vifb.py [--shared ../shared] [--stride 1]

Reads `metrics/vifb/golden.csv` (image, method, metric, value for 21 images x 13 methods x 13 metrics), scores each
fused result in `metrics/vifb/fused/` against its sources in `datasets/eval/vifb/{ir,vis}/` and prints, per metric,
the share of rows within the acceptance tolerance (0.5 % relative, or 1e-3 absolute when |value| < 0.1) and the worst
error, as a Markdown table. The reference values stay in ../shared; nothing is copied into the repository.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.metrics import VIFB_NAMES, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", str(Path(__file__).resolve().parents[2]
                                                                          / "shared")))
    ap.add_argument("--stride", type=int, default=1, help="score every n-th result only (quick look)")
    args = ap.parse_args()
    shared = Path(args.shared)
    gold: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(shared / "metrics/vifb/golden.csv", newline="") as f:
        for row in csv.DictReader(f):
            gold[(row["image"], row["method"])][VIFB_NAMES[row["metric"]]] = float(row["value"])
    names = sorted(set(VIFB_NAMES.values()))
    rows: dict[str, list[tuple[bool, float, str, float, float]]] = defaultdict(list)
    start = time.perf_counter()
    keys = sorted(gold)[::args.stride]
    for image, method in keys:
        ours = measure(shared / f"metrics/vifb/fused/{image}_{method}.jpg", shared / f"datasets/eval/vifb/ir/{image}.jpg",
                        shared / f"datasets/eval/vifb/vis/{image}.jpg", metrics=names)
        for m in names:
            g, o = gold[(image, method)][m], ours[m]
            err = abs(o - g) / abs(g) if abs(g) >= 0.1 else abs(o - g)
            ok = err <= (0.005 if abs(g) >= 0.1 else 1e-3)
            rows[m].append((ok, err, f"{image}_{method}", g, o))
    print(f"{len(keys)} results scored in {time.perf_counter() - start:.0f} s\n")
    print("| metric | VIFB name | rows within tolerance | worst error | where (VIFB vs ours) |")
    print("|---|---|---|---|---|")
    vifb = {v: k for k, v in VIFB_NAMES.items()}
    for m in names:
        r = rows[m]
        n_ok = sum(x[0] for x in r)
        ok, err, where, g, o = max(r, key=lambda x: x[1])
        kind = "relative" if abs(g) >= 0.1 else "absolute"
        print(f"| {m} | {vifb[m]} | {100 * n_ok / len(r):.1f} % ({n_ok}/{len(r)}) | {err:.1e} {kind} | "
              f"{where}: {g} vs {o:.6g} |")


if __name__ == "__main__":
    main()
