"""A weighted average of several weights of one architecture (a "model soup"): one new weights folder.

    python benchmarks/average_weights.py OUT runs/e13_gamma_noise runs/e18_exposure1 --coefficients 0.7 0.3

Every parameter of OUT is sum_i c_i * parameter_i (fp32), the coefficients summing to 1 (default: all equal). It works
for runs fine-tuned from the same starting weights, which stay close enough in weight space for their average to be a
good network (Wortsman et al., "Model soups", ICML 2022); averages of unrelated runs are not. The weights issue
chose the bundled weights of 2026-12-02 14:39 this way (BENCHMARKS.md, "Why exposure"). OUT must not exist yet.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gifnet.errors import GifnetError  # noqa: E402
from gifnet.hub import load_model, save_weights  # noqa: E402


def average(sources: list[str], coefficients: list[float]) -> torch.nn.Module:
    """The first model with every parameter replaced by the weighted average over `sources`."""
    if len(coefficients) != len(sources) or abs(sum(coefficients) - 1) > 1e-6:
        raise GifnetError(f"give one coefficient per weights, summing to 1; got {coefficients} for {len(sources)}")
    models = [load_model(s) for s in sources]
    states = [m.state_dict() for m in models]
    for s, st in zip(sources[1:], states[1:]):
        if {k: v.shape for k, v in st.items()} != {k: v.shape for k, v in states[0].items()}:
            raise GifnetError(f"{s}: not the same architecture as {sources[0]}; only like weights can be averaged")
    mixed = {k: sum(c * st[k].float() for c, st in zip(coefficients, states)) for k in states[0]}
    models[0].load_state_dict(mixed)
    return models[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="the new weights folder (must not exist)")
    ap.add_argument("weights", nargs="+", help="weights to average (folders, files, Hub ids)")
    ap.add_argument("--coefficients", type=float, nargs="+", help="one per weights, summing to 1 (default: equal)")
    args = ap.parse_args()
    if args.out.exists():
        sys.exit(f"average_weights: error: {args.out} already exists; choose a new folder")
    coefficients = args.coefficients or [1 / len(args.weights)] * len(args.weights)
    try:
        model = average(args.weights, coefficients)
    except GifnetError as e:
        sys.exit(f"average_weights: error: {e}")
    notes = {"average_of": ", ".join(args.weights), "coefficients": ", ".join(f"{c:g}" for c in coefficients)}
    save_weights(model, args.out, metadata=notes, replace_card=True)
    print(f"wrote {args.out}: " + " + ".join(f"{c:g} x {w}" for c, w in zip(coefficients, args.weights)))


if __name__ == "__main__":
    main()
