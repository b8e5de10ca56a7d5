"""Learning curves of training runs against the reference model, from their log.jsonl files.

    python benchmarks/plot_curves.py benchmarks/curves/e1_bf16.jsonl:bf16 benchmarks/curves/e2_fp32.jsonl:fp32 \
        -o docs/curves/precision.png [--x pixels] [--table]

Each argument is LOG[:LABEL]: a trainer log (`OUT/log.jsonl`, written with `--val ... --val-reference ...`). The
figure has one panel per quantity: `ratio/mean`, `ratio/min` and `ratio/gap` (by how much the cells under the bar miss
it, summed; `gifnet.validation.bar_summary`, recomputed for logs older than it) over all groups and metrics, then each
bar metric's worst group (`ratio/worst/<metric>`); the dashed line is the bar (0.95). The x axis is batches, or with
`--x pixels` the crop pixels seen (batches x batch x crop^2, for runs with different crops). `--table` prints the last
validation of each run as a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.validation import BAR, BAR_METRICS, bar_summary  # noqa: E402

PANELS = ["ratio/mean", "ratio/min", "ratio/gap"] + [f"ratio/worst/{m}" for m in BAR_METRICS]


def read_log(path: Path) -> list[dict]:
    entries = [e for e in (json.loads(line) for line in path.read_text().splitlines() if line.strip())
               if "ratio/min" in e]
    for e in entries:                     # logs written before `below` and `gap` existed
        cells = {k.removeprefix("ratio/"): v for k, v in e.items() if k.startswith("ratio/") and k.count("/") == 2}
        e.update({f"ratio/{k}": v for k, v in bar_summary(cells).items() if f"ratio/{k}" not in e})
    return entries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="LOG[:LABEL]")
    ap.add_argument("-o", "--out", required=True, help="PNG to write")
    ap.add_argument("--x", choices=("batches", "pixels"), default="batches")
    ap.add_argument("--crop", type=int, nargs="*", help="crop of each run, for --x pixels (default 128 each)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--title", default="")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    runs = []
    for i, spec in enumerate(args.logs):
        path, _, label = spec.partition(":")
        entries = read_log(Path(path))
        if not entries:
            sys.exit(f"{path}: no validation entries with ratios (train with --val and --val-reference)")
        crop = args.crop[i] if args.crop else 128
        scale = args.batch * crop * crop / 1e6 if args.x == "pixels" else 1
        runs.append((label or Path(path).stem, entries, scale))
    fig, axes = plt.subplots(3, 4, figsize=(16, 10), sharex=True)
    for ax, key in zip(axes.flat, PANELS):
        for i, (label, entries, scale) in enumerate(runs):   # past ten runs the colours repeat: new line styles
            xs = [e["step"] * scale for e in entries if key in e]
            ax.plot(xs, [e[key] for e in entries if key in e], marker=".", label=label,
                    ls=("-", "--", ":")[i // 10 % 3])
        if key != "ratio/gap":
            ax.axhline(BAR, color="grey", ls="--", lw=0.8)
        ax.set_title("gap to the bar (0 = met)" if key == "ratio/gap"
                     else key.replace("ratio/", "").replace("worst/", "worst group: "))
        ax.grid(alpha=0.3)
    axes.flat[-1].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("crop pixels seen (millions)" if args.x == "pixels" else "batches")
    axes[0, 0].set_ylabel("ours / reference")
    axes[1, 0].set_ylabel("ours / reference")
    axes[2, 0].set_ylabel("ours / reference")
    axes.flat[-1].legend(*axes[0, 0].get_legend_handles_labels(), loc="center")   # in the empty last panel
    fig.suptitle(args.title or "validation crops: ours / authors' checkpoint (the bar: 0.95)")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    if args.table:
        print("| run | batches | mean | min | below | gap | " + " | ".join(m.upper() for m in BAR_METRICS) + " |")
        print("|---|---|---|---|---|---|" + "---|" * len(BAR_METRICS))
        for label, entries, _ in runs:
            e = entries[-1]
            print(f"| {label} | {e['step']} | {e['ratio/mean']:.3f} | {e['ratio/min']:.3f} | {e['ratio/below']:.0f} | "
                  f"{e['ratio/gap']:.2f} | "
                  + " | ".join(f"{e[f'ratio/worst/{m}']:.2f}" for m in BAR_METRICS) + " |")


if __name__ == "__main__":
    main()
