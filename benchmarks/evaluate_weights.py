"""Our weights against the authors' checkpoint on the evaluation sets: the quality bar of the training issue.

    python benchmarks/evaluate_weights.py --ours weights/gifnet-roadscene-cpu [--limit 8] [--groups tno mefb]

For every task group it fuses the pairs with both models (`gifnet.evaluate.score_models`), and prints a Markdown table
of the mean of each bar metric per model and ours / authors' in percent (the bar: >= 95 % on EN, SD, SF, AG, MI, Qabf,
VIF and SSIM in every group). The groups and their slot order are `gifnet.validation.EVAL_GROUPS` (TNO, VIFB, Lytro,
MFFW, MEFB, Harvard CT/PET/SPECT-MRI). `--limit N` scores only N pairs of each set, evenly spaced in name order, to fit
a CPU budget; the table says so. Data: $GIFNET_SHARED/datasets/eval (reference data, read in place).

`--reference-cache FILE` keeps the reference model's per-pair scores in FILE (JSON, e.g. runs/reference-scores.json;
not for the repository: they are numbers of the reference data) and reuses them while the reference checkpoint and
the scoring code are unchanged (both hashed into the key; training code is not part of it), halving the time of
the next evaluation. `--decimals 2` prints the percentages to two decimals, to compare mixtures whose cells sit
within a point of the bar.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from gifnet.errors import GifnetError  # noqa: E402
from gifnet.evaluate import score_models, source_pairs  # noqa: E402
from gifnet.files import write_text  # noqa: E402
from gifnet.hub import load_model, sha256_of  # noqa: E402
from gifnet.model import GIFNet  # noqa: E402
from gifnet.validation import BAR_METRICS as BAR, EVAL_GROUPS  # noqa: E402


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """Indices of `limit` of n items, evenly spaced from the first to the last (all n when None or >= n)."""
    if not limit or limit >= n:
        return list(range(n))
    return sorted({round(k * (n - 1) / max(1, limit - 1)) for k in range(limit)})


def subset(src: Path, dst: Path, limit: int | None) -> Path:
    """A folder of symlinks to `limit` files of `src`, evenly spaced in name order (all when None)."""
    dst.mkdir(parents=True)
    files = sorted(p for p in src.iterdir() if p.is_file())
    for i in evenly_spaced(len(files), limit):
        (dst / files[i].name).symlink_to(files[i].resolve())
    return dst


def scoring_modules() -> list[Path]:
    """The package's modules that scores depend on: gifnet/__init__.py, gifnet.evaluate and every module they import,
    directly or not, found by reading their relative imports (lazy ones too). Training code is not among them."""
    pkg = Path(__file__).resolve().parents[1] / "gifnet"
    todo, seen = ["__init__", "evaluate"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((pkg / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                todo += [n if (pkg / f"{n}.py").is_file() else "__init__" for n in names]   # __version__ & co
    return sorted(pkg / f"{n}.py" for n in seen)


def code_hash() -> str:
    """sha256 of the scoring code (`scoring_modules`): cached scores are reused only by the code that computed them,
    and survive changes to the training code."""
    h = hashlib.sha256()
    for f in scoring_modules():
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def reference_scores(a: Path, b: Path, reference: str, task: str, cache: Path | None, key: str) -> np.ndarray:
    """The reference model's scores `(pairs, metrics)` on the pairs of folders a, b: from `cache` when it holds all of
    them under `key`, else computed (and added to the cache)."""
    try:
        stored = json.loads(cache.read_text()) if cache and cache.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        sys.exit(f"evaluate_weights: error: {cache} is not a score cache (not JSON); delete it or give another "
                 "--reference-cache")
    names = [n for n, _, _ in source_pairs(a, b)]
    have = stored.get(key, {})
    if all(n in have for n in names):
        return np.array([have[n] for n in names])
    s = score_models(a, b, [reference], task=task, metrics=BAR)
    if cache:
        stored.setdefault(key, {}).update({n: v.tolist() for n, v in zip(s.images, s.values[0])})
        write_text(cache, json.dumps(stored))
    return s.values[0]


def eval_root(shared: str) -> Path:
    """`SHARED/datasets/eval`, or a one-line exit saying what to pass when it is missing."""
    root = Path(shared) / "datasets" / "eval"
    if not root.is_dir():
        sys.exit(f"{Path(sys.argv[0]).stem}: error: {root} not found; pass --shared (or set GIFNET_SHARED) to the "
                 "reference data folder")
    return root


def ours_and_authors(ours: str, shared: str) -> tuple[GIFNet, GIFNet]:
    """Our model and the authors' checkpoint in SHARED, or a one-line exit saying which could not be loaded."""
    try:
        return load_model(ours), load_model(Path(shared) / "checkpoints/official/Final.model")
    except GifnetError as e:
        sys.exit(f"{Path(sys.argv[0]).stem}: error: {e}")


def main() -> None:
    try:
        run()
    except GifnetError as e:
        sys.exit(f"evaluate_weights: error: {e}")


def run() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="our weights (folder, file or Hub id)")
    ap.add_argument("--reference", help="the weights to compare against (default: the authors' checkpoint in --shared)")
    ap.add_argument("--shared", default=os.environ.get("GIFNET_SHARED", "../shared"))
    ap.add_argument("--limit", type=int, default=None, help="N pairs of each set only, evenly spaced")
    ap.add_argument("--groups", nargs="*", choices=list(EVAL_GROUPS), help="these groups only (default: all)")
    ap.add_argument("--reference-cache", type=Path, help="JSON file keeping the reference's scores between runs")
    ap.add_argument("--decimals", type=int, default=0, choices=range(4),
                    help="decimals of the percentages in the table (default 0; 2 to compare mixtures near the bar)")
    args = ap.parse_args()
    root = eval_root(args.shared)
    args.reference = args.reference or str(Path(args.shared) / "checkpoints/official/Final.model")
    rows, met = [], True
    ref_id = sha256_of(args.reference) if Path(args.reference).is_file() else args.reference
    code = code_hash()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (folder, sa, sb, task) in EVAL_GROUPS.items():
            if args.groups and name not in args.groups:
                continue
            t0 = time.time()
            a = subset(root / folder / sa, Path(tmp, name, "a"), args.limit)
            b = subset(root / folder / sb, Path(tmp, name, "b"), args.limit)
            key = "|".join([name, ref_id, code, *BAR])
            ours = score_models(a, b, [args.ours], task=task, metrics=BAR).values[0]
            theirs = reference_scores(a, b, args.reference, task, args.reference_cache, key)
            means = np.stack([ours.mean(0), theirs.mean(0)])     # (2 models, metrics)
            ratios = 100 * means[0] / means[1]
            met &= bool((ratios >= 95).all())
            rows.append((name, len(ours), means, ratios))
            print(f"{name}: {len(ours)} pairs in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    print("| group | pairs | " + " | ".join(m.upper() for m in BAR) + " |")
    print("|---|---|" + "---|" * len(BAR))
    for name, n, means, ratios in rows:
        cells = [f"{means[0, j]:.3g} / {means[1, j]:.3g} ({ratios[j]:.{args.decimals}f} %)" for j in range(len(BAR))]
        print(f"| {name} | {n} | " + " | ".join(cells) + " |")
    cells = [(r[j], m, name) for name, _, _, r in rows for j, m in enumerate(BAR)]
    below = [c for c in cells if c[0] < 95]
    worst = min(cells)
    d = max(1, args.decimals)
    listed = "".join(f"{', ' if i else ': '}{m.upper()} {g} {r:.{d}f} %" for i, (r, m, g) in enumerate(sorted(below)))
    print(f"\n{len(below)} of {len(cells)} cells below 95 %{listed}; worst {worst[0]:.{d}f} %")
    print(f"ours / {args.reference} (ours as % of theirs); bar (>= 95 % everywhere) {'MET' if met else 'NOT met'}"
          + (f"; {args.limit} pairs of each set, evenly spaced" if args.limit else "; whole sets"))


if __name__ == "__main__":
    main()
