"""Score fused results with the fusion-quality metrics, side by side, as tables and plots (`gifnet evaluate`).

Two ways in:
- `score_folders(a_dir, b_dir, [fused_dir, ...])`: existing results, one folder per method, files named like the
  source pairs (`a/1.png`, `b/1.jpg`, `method/1.png`; `pattern` maps a pair's name to a result's, e.g. "{name}_ADF").
- `score_models(a_dir, b_dir, [weights, ...], task)`: fuse every pair with each model (`gifnet.load_model`,
  `gifnet.fuse`) and score the results; this is how the project compares its weights with the authors'.

Both return a `Scores` table (method x image x metric). `write_report` writes `scores.csv` (one row per method and
image), `summary.md` (mean ± std per method and metric, the best method per metric in bold, arrows for the better
direction) and `metrics.png` (one bar chart per metric).
"""
from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import GifnetError
from .files import PathLike, write_text
from .image import list_images, pair_folders
from .metrics import CONVENTIONS, METRICS, measure, prepare, resolve

log = logging.getLogger(__name__)

REPORT_FILES = ("scores.csv", "summary.md", "metrics.png")


@dataclass
class Scores:
    """Metric values `values[method, image, metric]` for the named methods, images and metrics."""
    methods: list[str]
    images: list[str]
    metrics: list[str]
    values: np.ndarray
    convention: str = "vifb"

    def mean(self) -> np.ndarray:
        return self.values.mean(axis=1)

    def std(self) -> np.ndarray:
        """Sample standard deviation over images (0 for a single image)."""
        n = self.values.shape[1]
        return self.values.std(axis=1, ddof=1) if n > 1 else np.zeros_like(self.mean())

    def best(self) -> list[int]:
        """Index of the best method (by mean) for each metric, honouring its direction."""
        means = self.mean()
        return [int(np.argmax(means[:, j]) if METRICS[m].higher_is_better else np.argmin(means[:, j]))
                for j, m in enumerate(self.metrics)]


# ----------------------------------------------------------------------------------------------------- pairing
def source_pairs(a_dir: PathLike, b_dir: PathLike) -> list[tuple[str, Path, Path]]:
    """`(name, a_path, b_path)` for the images the two source folders share by name (unpaired ones are logged)."""
    pairs, unpaired = pair_folders(a_dir, b_dir)
    for f in unpaired:
        log.warning("source without a partner, skipped: %s", f)
    return [(pa.stem, pa, pb) for pa, pb in pairs]


def match_results(fused_dir: PathLike, names: Sequence[str], *, pattern: str = "{name}") -> list[Path]:
    """The result file in `fused_dir` for each pair name (its stem is `pattern` with {name} filled in)."""
    folder = Path(fused_dir)
    if not folder.is_dir():
        raise GifnetError(f"{folder}: results folder not found")
    if "{name}" not in pattern:
        raise GifnetError(f"--pattern {pattern!r} must contain {{name}} (e.g. '{{name}}' or '{{name}}_mine')")
    by_stem: dict[str, list[Path]] = {}
    for p in list_images(folder):
        by_stem.setdefault(p.stem, []).append(p)
    wanted = {pattern.format(name=n): n for n in names}
    missing = [n for s, n in wanted.items() if s not in by_stem]
    if missing:
        shown = ", ".join(pattern.format(name=n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise GifnetError(f"{folder}: no result for {len(missing)} of {len(names)} source pairs ({shown}); every "
                          "method needs a result per pair, named like the sources (see --pattern)")
    doubles = [s for s in wanted if len(by_stem[s]) > 1]
    if doubles:
        raise GifnetError(f"{folder}: several files named {doubles[0]}.* "
                          f"({', '.join(p.name for p in by_stem[doubles[0]])}); keep one result per pair")
    extra = sorted(set(by_stem) - set(wanted))
    if extra:
        log.warning("%s: %d file(s) match no source pair and are ignored (e.g. %s)", folder, len(extra), extra[0])
    return [by_stem[pattern.format(name=n)][0] for n in names]


def method_names(sources: Sequence[PathLike]) -> list[str]:
    """Short, unique display names: a folder's or file's name ('official' stays 'official')."""
    names = []
    for s in sources:
        p = Path(str(s))
        base = p.stem if p.suffix in (".model", ".safetensors", ".pt", ".pth") else (p.name or str(s))
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


# ----------------------------------------------------------------------------------------------------- scoring
def _score(jobs: Iterable, total: int, names: list[str], methods: list[str], metrics: list[str],
           convention: str) -> Scores:
    values = np.zeros((len(methods), len(names), len(metrics)))
    with tqdm(total=total, desc="scoring", unit="image") as bar:
        for i, j, fused, a, b in jobs:
            p = prepare(fused, a, b)
            p.names = (f"{methods[i]}/{names[j]}", *p.names[1:])   # how warnings (e.g. a constant result) name it
            row = measure(p, metrics=metrics, convention=convention)
            values[i, j] = [row[m] for m in metrics]
            bar.update()
    return Scores(methods, names, metrics, values, convention)


def score_folders(a_dir: PathLike, b_dir: PathLike, fused_dirs: Sequence[PathLike],
                  *, methods: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  convention: str = "vifb", pattern: str | Sequence[str] = "{name}") -> Scores:
    """Score existing results: one folder per method, files named like the source pairs.

    pattern: the result's file name (no extension) for pair {name}; one for all folders or one per folder.
    """
    if not fused_dirs:
        raise GifnetError("give at least one folder of fused results (--fused DIR)")
    metrics = resolve(metrics)
    pairs = source_pairs(a_dir, b_dir)
    names = [n for n, _, _ in pairs]
    methods = list(methods) if methods else method_names(fused_dirs)
    if len(methods) != len(fused_dirs):
        raise GifnetError(f"{len(methods)} --name values for {len(fused_dirs)} --fused folders; give one per folder")
    patterns = [pattern] * len(fused_dirs) if isinstance(pattern, str) else list(pattern)
    if len(patterns) == 1:
        patterns = patterns * len(fused_dirs)
    if len(patterns) != len(fused_dirs):
        raise GifnetError(f"{len(patterns)} --pattern values for {len(fused_dirs)} --fused folders; give one, or one "
                          "per folder")
    results = [match_results(d, names, pattern=pt) for d, pt in zip(fused_dirs, patterns)]
    jobs = ((i, j, results[i][j], pa, pb) for i in range(len(fused_dirs)) for j, (_, pa, pb) in enumerate(pairs))
    return _score(jobs, len(fused_dirs) * len(pairs), names, methods, metrics, convention)


def score_models(a_dir: PathLike, b_dir: PathLike, weights: Sequence[str], *, task: str = "auto",
                 metrics: Sequence[str] | None = None, convention: str = "vifb",
                 save_dir: PathLike | None = None) -> Scores:
    """Fuse every source pair with each model and score the results side by side.

    weights: anything `gifnet.load_model` accepts ('official', a .model/.safetensors file, a folder, a Hub id).
    save_dir: also write each result to `save_dir/<method>/<name>.png` (refuses to replace existing files).
    """
    from .hub import load_model
    from .image import write_image
    from .pipeline import fuse, get_task

    if not weights:
        raise GifnetError("give at least one model (--weights W)")
    get_task(task)
    metrics = resolve(metrics)
    pairs = source_pairs(a_dir, b_dir)
    names = [n for n, _, _ in pairs]
    methods = method_names(weights)
    if save_dir is not None:
        for m in methods:
            clash = [Path(save_dir, m, f"{n}.png") for n in names if Path(save_dir, m, f"{n}.png").exists()]
            if clash:
                raise GifnetError(f"{clash[0]}: already exists; choose another --save-fused folder")

    def jobs():
        for i, w in enumerate(weights):
            model = load_model(w)
            for j, (name, pa, pb) in enumerate(pairs):
                fused = fuse(pa, pb, task=task, model=model)
                if save_dir is not None:
                    out = Path(save_dir, methods[i])
                    out.mkdir(parents=True, exist_ok=True)
                    write_image(fused, out / f"{name}.png")
                yield i, j, fused, pa, pb

    return _score(jobs(), len(weights) * len(pairs), names, methods, metrics, convention)


# ----------------------------------------------------------------------------------------------------- reports
def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    ax = abs(x)
    return f"{x:.1f}" if ax >= 100 else f"{x:.3f}" if ax >= 1 else f"{x:.4f}"


def arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def summary_markdown(scores: Scores) -> str:
    """Markdown table: one row per metric (arrow = better direction), one column per method, mean ± std over the
    images, the best mean per metric in bold."""
    mean, std, best = scores.mean(), scores.std(), scores.best()
    lines = [f"| metric | {' | '.join(scores.methods)} |", "|---|" + "---|" * len(scores.methods)]
    for j, m in enumerate(scores.metrics):
        cells = []
        for i in range(len(scores.methods)):
            cell = f"{_fmt(mean[i, j])} ± {_fmt(std[i, j])}"
            cells.append(f"**{cell}**" if i == best[j] and len(scores.methods) > 1 else cell)
        lines.append(f"| {m} {arrow(m)} | {' | '.join(cells)} |")
    note = (f"\n{len(scores.images)} image(s); mean ± std (sample) over images; ↑ higher is better, "
            f"↓ lower is better; best per metric in bold. Metric conventions: {scores.convention!r} "
            f"({CONVENTIONS.get(scores.convention, 'unknown')}; see gifnet.metrics).\n")
    return "\n".join(lines) + "\n" + note


def scores_csv(scores: Scores) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "image", *scores.metrics])
    for i, method in enumerate(scores.methods):
        for j, image in enumerate(scores.images):
            w.writerow([method, image, *(f"{v:.6g}" for v in scores.values[i, j])])
    return buf.getvalue()


def plot(scores: Scores, path: PathLike) -> Path:
    """One bar chart per metric: each method's mean with its standard deviation, the best bar outlined."""
    import matplotlib
    from matplotlib.figure import Figure      # no pyplot: leaves the caller's backend (e.g. a notebook's) alone

    n = len(scores.metrics)
    cols = min(5, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(2.6 * cols + 0.4 * len(scores.methods), 2.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    mean, std, best = scores.mean(), scores.std(), scores.best()
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    x = np.arange(len(scores.methods))
    for j, m in enumerate(scores.metrics):
        ax = axes[j // cols][j % cols]
        bars = ax.bar(x, mean[:, j], yerr=std[:, j], capsize=3,
                      color=[colours[i % len(colours)] for i in range(len(x))])
        if len(x) > 1:
            bars[best[j]].set_edgecolor("black")
            bars[best[j]].set_linewidth(2)
        ax.set_title(f"{m} {arrow(m)}", fontsize=10)
        ax.set_xticks(x, scores.methods, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(f"{len(scores.images)} image(s): mean ± std; outlined = best", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def write_report(scores: Scores, out_dir: PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write scores.csv, summary.md and metrics.png into `out_dir` (created if needed; existing report files are
    only replaced with `overwrite=True`)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GifnetError(f"{out}: exists and is a file; --output must be a folder")
    targets = [out / f for f in REPORT_FILES]
    clash = [t for t in targets if t.exists()]
    if clash and not overwrite:
        raise GifnetError(f"{clash[0]}: already exists; pass --overwrite or choose another --output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GifnetError(f"{out}: cannot create the output folder ({e.strerror})") from None
    write_text(targets[0], scores_csv(scores))
    write_text(targets[1], summary_markdown(scores))
    plot(scores, targets[2])
    return targets


# ------------------------------------------------------------------------------------------------------ one call
def report(a_dir: PathLike, b_dir: PathLike, *, fused: Sequence[PathLike] = (), names: Sequence[str] | None = None,
           patterns: Sequence[str] | str = "{name}", weights: Sequence[str] = (), task: str = "auto",
           metrics: Sequence[str] | None = None, convention: str = "vifb", save_fused: PathLike | None = None,
           out: PathLike = "evaluation", overwrite: bool = False) -> Scores:
    """Score existing results (`fused` folders, with display `names` and file-name `patterns`) or models (`weights`,
    fused for `task`, results kept in `save_fused` when given), and write the report (`write_report`) to `out`.
    What `gifnet evaluate` runs."""
    if bool(fused) == bool(weights):
        raise GifnetError("give either folders of results to score or weights to fuse with and score, not both",
                          param="fused")
    if names and not fused:
        raise GifnetError("names describe result folders; they do not apply to weights", param="name")
    out = Path(out)
    clash = [out / f for f in REPORT_FILES if (out / f).exists()]
    if clash and not overwrite:  # fail before the slow part
        raise GifnetError(f"{clash[0]}: already exists; pass --overwrite or choose another --output folder")
    metrics = resolve(metrics) if metrics else None
    if fused:
        scores = score_folders(a_dir, b_dir, fused, methods=names, metrics=metrics, convention=convention,
                               pattern=patterns)
    else:
        scores = score_models(a_dir, b_dir, weights, task=task, metrics=metrics, convention=convention,
                              save_dir=save_fused)
    write_report(scores, out, overwrite=overwrite)
    return scores
