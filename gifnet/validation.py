"""Validation while training: the learning curve against a reference model on fixed crops of evaluation folders.

A `ValidationSet` is a few fixed centre crops per group of held-out pairs, as the network sees them (luma in [0, 1],
slot order of the group's task). Two kinds of folder make one:

    an evaluation root   the groups of EVAL_GROUPS found under it (e.g. ../shared/datasets/eval: TNO, VIFB, Lytro,
                         MFFW, MEFB, Harvard CT/PET/SPECT-MRI), `pairs` evenly spaced pairs of each
    a folder of pairs    ir/ and vis/ sub-folders (one infrared-visible group named after the folder)

`score(model, vset)` fuses every crop and averages the quality-bar metrics (BAR_METRICS, gifnet.metrics' VIFB
conventions) per group: `{"tno/sf": 13.2, ...}`. `ratios(ours, reference)` divides by the reference model's scores on
the same crops, and adds the summary the weights issue's bar is about (every group and metric at least BAR = 0.95 of
the reference; `bar_summary`): `min` (the worst group and metric), `below` (how many cells miss the bar), `gap` (by
how much in all: the sum of 0.95 - ratio over those cells; 0 when the bar holds) and `mean`, plus each metric's worst
group (`worst/sf`). The mean rewards overshoot (a medical SSIM of 3x the reference hides a missed EN); `gap` does
not. A crop is not a whole image, so these ratios track the full evaluation (`gifnet evaluate`) without replacing it.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import PairedFolder
from .errors import GifnetError
from .metrics import measure

log = logging.getLogger(__name__)

# The metrics of the weights issue's quality bar (higher is better for each), and the bar: ours / reference >= BAR.
BAR_METRICS = ("en", "sd", "sf", "ag", "mi", "qabf", "vif", "ssim")
BAR = 0.95
# group -> (folder under an evaluation root, slot-a sub-folder, slot-b sub-folder, task)
EVAL_GROUPS = {
    "tno": ("tno", "ir", "vis", "ivif"),
    "vifb": ("vifb", "ir", "vis", "ivif"),
    "lytro": ("lytro", "a", "b", "mfif"),
    "mffw": ("mffw", "a", "b", "mfif"),
    "mefb": ("mefb", "b", "a", "meif"),              # MEFB's b/ holds the over-exposed image: slot a
    "ct-mri": ("harvard/ct-mri", "ct", "mri", "medical"),
    "pet-mri": ("harvard/pet-mri", "pet", "mri", "medical"),
    "spect-mri": ("harvard/spect-mri", "spect", "mri", "medical"),
}


@dataclass
class ValidationSet:
    """`groups[name]` is a list of (a, b) crops, float32 `(c, c)` luma in [0, 1], in the task's slot order."""
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]]

    @classmethod
    def from_folder(cls, root: str | os.PathLike, *, pairs: int = 3, crop: int = 256) -> ValidationSet:
        """The groups of an evaluation root, or the one group of a folder with ir/ and vis/ (see the module doc).
        `pairs` pairs per group, evenly spaced in name order; centre crops of `crop` pixels (smaller images: their
        shorter side)."""
        root = Path(root)
        if pairs < 1 or crop < 16:
            raise GifnetError(f"validation needs at least 1 pair per group and crops of at least 16 pixels, got "
                              f"pairs={pairs}, crop={crop}")
        found = {name: (root / sub, a, b) for name, (sub, a, b, _) in EVAL_GROUPS.items()
                 if (root / sub / a).is_dir() and (root / sub / b).is_dir()}
        if not found:
            if not ((root / "ir").is_dir() and (root / "vis").is_dir()):
                raise GifnetError(f"{root}: not a validation folder; pass an evaluation root holding some of "
                                  f"{', '.join(v[0] for v in EVAL_GROUPS.values())}, or a folder with ir/ and vis/")
            found = {root.name: (root, "ir", "vis")}
        groups = {}
        for name, (folder, a, b) in found.items():
            paired = PairedFolder(folder, names=(a, b), cache=False)
            picks = np.unique(np.linspace(0, len(paired) - 1, min(pairs, len(paired))).round().astype(int))
            groups[name] = [centre_crop(*paired[int(i)], crop) for i in picks]
        log.info("validation: %s", ", ".join(f"{k} {len(v)}" for k, v in groups.items()))
        return cls(groups)

    def __len__(self) -> int:
        return sum(len(v) for v in self.groups.values())


def centre_crop(a: np.ndarray, b: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
    c = min(crop, *a.shape)
    top, left = (a.shape[0] - c) // 2, (a.shape[1] - c) // 2
    return (np.ascontiguousarray(a[top:top + c, left:left + c]), np.ascontiguousarray(b[top:top + c, left:left + c]))


@torch.no_grad()
def score(model: torch.nn.Module, vset: ValidationSet, *, device: torch.device | str = "cpu",
          autocast: Callable[[], object] | None = None) -> dict[str, float]:
    """Mean of each bar metric per group, `{"group/metric": value}`, for the model's fusions of the crops.
    `autocast`: a context factory for the forward pass (the trainer's precision); fp32 when None."""
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    try:
        for name, crops in vset.groups.items():
            rows = []
            for a, b in crops:
                ta, tb = (torch.from_numpy(x)[None, None].to(device) for x in (a, b))
                if autocast is None:
                    fused = model(ta, tb)
                else:
                    with autocast():
                        fused = model(ta, tb)
                fused = fused.float().clamp(0, 1)[0, 0].cpu().numpy()
                rows.append(measure(fused, a, b, metrics=BAR_METRICS))
            out.update({f"{name}/{m}": float(np.mean([r[m] for r in rows])) for m in BAR_METRICS})
    finally:
        model.train(was_training)
    return out


def ratios(ours: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """ours / reference for every `group/metric`, plus `worst/<metric>` (the metric's lowest group) and the summary of
    `bar_summary`. A reference score of 0 gives a ratio of 1 when ours is 0 too, else inf."""
    r = {}
    for k, v in ours.items():
        ref = reference[k]
        r[k] = v / ref if ref else (1.0 if v == 0 else float("inf"))
    for m in BAR_METRICS:
        per_group = [v for k, v in r.items() if k.endswith(f"/{m}")]
        if per_group:
            r[f"worst/{m}"] = min(per_group)
    r.update(bar_summary(r))
    return r


def bar_summary(cells: dict[str, float]) -> dict[str, float]:
    """`min`, `mean`, `below` (cells under BAR) and `gap` (sum of BAR - ratio over them) of the `group/metric` ratios
    in `cells` (other keys, such as `worst/sf` or an earlier summary, are ignored)."""
    values = [v for k, v in cells.items() if k.count("/") == 1 and not k.startswith("worst/")]
    missed = [BAR - v for v in values if v < BAR]
    return {"min": min(values), "mean": float(np.mean(values)), "below": float(len(missed)), "gap": float(sum(missed))}


def misses(val: dict[str, float]) -> str:
    """'N cells below 0.95 by G in all' of a trainer validation's `ratio/below` and `ratio/gap`."""
    return f"{val['ratio/below']:.0f} cells below {BAR} by {val['ratio/gap']:.2f} in all"


def summary(val: dict[str, float]) -> str:
    """One log line of a trainer validation (`val/...` and `ratio/...` keys): the ratio summary when there is a
    reference, else each metric's mean over the groups."""
    if "ratio/min" in val:
        worst = ", ".join(f"{m} {val[f'ratio/worst/{m}']:.2f}" for m in BAR_METRICS if f"ratio/worst/{m}" in val)
        gap = f", {misses(val)}" if "ratio/gap" in val else ""
        return (f"ratio to the reference: min {val['ratio/min']:.3f}, mean {val['ratio/mean']:.3f}{gap} "
                f"(worst group: {worst})")
    return ", ".join(f"{m} {np.mean([v for k, v in val.items() if k.endswith('/' + m)]):.4g}" for m in BAR_METRICS)


def table(val: dict[str, float]) -> str:
    """A Markdown table of a trainer validation, one row per group: each metric's value, and `(ratio)` to the
    reference when known."""
    groups = sorted({k.split("/")[1] for k in val if k.startswith("val/")})
    rows = ["| group | " + " | ".join(m.upper() for m in BAR_METRICS) + " |", "|---|" + "---|" * len(BAR_METRICS)]
    for g in groups:
        cells = [f"{val[f'val/{g}/{m}']:.3g}" + (f" ({val[f'ratio/{g}/{m}']:.2f})" if f"ratio/{g}/{m}" in val else "")
                 for m in BAR_METRICS]
        rows.append(f"| {g} | " + " | ".join(cells) + " |")
    if "ratio/min" in val:
        gap = f"; {misses(val)}" if "ratio/gap" in val else ""
        rows.append(f"\nIn brackets: ratio to the reference model on the same crops (min {val['ratio/min']:.3f}, "
                    f"mean {val['ratio/mean']:.3f}{gap}).")
    return "\n".join(rows)


__all__ = ["BAR", "BAR_METRICS", "EVAL_GROUPS", "ValidationSet", "bar_summary", "centre_crop", "misses", "ratios",
           "score", "summary", "table"]
