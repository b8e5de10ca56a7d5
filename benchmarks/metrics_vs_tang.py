"""How closely gifnet.metrics reproduces Linfeng Tang's MATLAB toolbox (its published Metric_TNO.xlsx).

    python benchmarks/metrics_vs_tang.py [--shared ../shared] [--stride 1] [--conventions tang2022,tang,paper,vifb]

Reads `metrics/tang/golden.csv` (image, method, metric, value: 42 TNO pairs x 3 methods x the toolbox's 11 metrics,
full precision from the xlsx), scores each fused result in `metrics/tang/fused/<method>/` against its sources in
`metrics/tang/sources/{ir,vi}/` under each convention and prints, per metric and convention, the share of rows within
the acceptance tolerance (0.5 % relative, or 1e-3 absolute when |value| < 0.1) and the worst error, as a Markdown
table. Only "tang2022" is meant to match (the xlsx was written by the toolbox's 2022 code); the other columns show how
far each convention is from the published numbers. The reference values stay in ../shared; nothing is copied into
the repository.
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
from gifnet.metrics import CONVENTIONS, TANG_NAMES, measure, prepare


def error(gold: float, ours: float) -> tuple[bool, float]:
    """(within tolerance, error): relative when |gold| >= 0.1, absolute below."""
    if abs(gold) >= 0.1:
        err = abs(ours - gold) / abs(gold)
        return err <= 0.005, err
    err = abs(ours - gold)
    return err <= 1e-3, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", str(Path(__file__).resolve().parents[2]
                                                                          / "shared")))
    ap.add_argument("--stride", type=int, default=1, help="score every n-th result only (quick look)")
    ap.add_argument("--conventions", default="tang2022,tang,paper,vifb", help="comma-separated conventions")
    args = ap.parse_args()
    conventions = [c for c in args.conventions.split(",") if c]
    unknown = [c for c in conventions if c not in CONVENTIONS]
    if unknown:
        ap.error(f"unknown convention {unknown[0]!r}; choose from {', '.join(CONVENTIONS)}")
    root = Path(args.shared) / "metrics/tang"
    if not (root / "golden.csv").is_file():
        ap.error(f"{root / 'golden.csv'} not found; pass --shared or set GIFNET_SHARED")
    gold: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(root / "golden.csv", newline="") as f:
        for row in csv.DictReader(f):
            gold[(row["image"], row["method"])][TANG_NAMES[row["metric"]]] = float(row["value"])
    names = list(TANG_NAMES.values())
    rows: dict[tuple[str, str], list[tuple[bool, float, str, float, float]]] = defaultdict(list)
    start = time.perf_counter()
    keys = sorted(gold)[::args.stride]
    for image, method in keys:
        p = prepare(root / f"fused/{method}/{image}.png", root / f"sources/ir/{image}.png",
                    root / f"sources/vi/{image}.png")
        for conv in conventions:
            ours = measure(p, metrics=names, convention=conv)
            for m in names:
                g = gold[(image, method)][m]
                ok, err = error(g, ours[m])
                rows[(m, conv)].append((ok, err, f"{method}/{image}", g, ours[m]))
    print(f"{len(keys)} results x {len(conventions)} conventions scored in {time.perf_counter() - start:.0f} s\n")
    print("Rows of the toolbox's values within tolerance (worst error: relative, or absolute when |value| < 0.1)\n")
    print(f"| metric | {' | '.join(conventions)} |")
    print("|---|" + "---|" * len(conventions))
    toolbox = {v: k for k, v in TANG_NAMES.items()}
    for m in names:
        cells = []
        for conv in conventions:
            r = rows[(m, conv)]
            n_ok = sum(x[0] for x in r)
            cells.append(f"{100 * n_ok / len(r):.1f} % ({n_ok}/{len(r)}), worst {max(x[1] for x in r):.1e}")
        print(f"| {toolbox[m]} | {' | '.join(cells)} |")
    if "tang2022" in conventions:
        print("\nWorst row per metric under tang2022 (toolbox vs ours):\n")
        for m in names:
            ok, err, where, g, o = max(rows[(m, "tang2022")], key=lambda x: x[1])
            print(f"- {toolbox[m]}: {where}: {g!r} vs {o!r}")


if __name__ == "__main__":
    main()
