"""From images to fused images: `fuse`, `enhance`, `fuse_multispectral`.

The network sees one channel per source (grey, or the Y of a colour image). Colour is put back afterwards from the
source(s) the task names: one source's chroma (IVIF, NIR-VIS: the visible image; medical: the PET/SPECT image), or both
sources' chroma fused per pixel (MFIF, MEIF) with weights |Cb|, |Cr| on zero-centred chroma (see
`gifnet.image.fuse_chroma` for how this differs from the release). Inputs may be paths, PIL images or numpy arrays of
uint8, uint16 or float in [0, 1]; results come back as numpy arrays of the input size, uint16 if any input was 16-bit,
float32 if both were float, else uint8.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import GifnetError
from .hub import load_model
from .image import (ImageLike, describe, fuse_chroma, gaussian_blur, luma, read_image, resize as resize_image,
                    rgb_to_ycbcr, to_dtype, ycbcr_to_rgb)
from .model import GIFNet
from .onnx import OnnxModel
from .tiling import Plan, Tile, check_precision, infer, make_plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    slot_a: str
    slot_b: str
    colour_from: str   # "a", "b", "both" (chromas fused) or "auto" (whichever inputs are colour)


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("ivif", "Infrared-visible", "infrared", "visible", "b"),
    Task("mfif", "Multi-focus", "near focus", "far focus", "both"),
    Task("meif", "Multi-exposure", "over-exposed", "under-exposed", "both"),
    Task("medical", "Medical (PET/SPECT/CT + MRI)", "PET / SPECT / CT", "MRI", "a"),
    Task("nir-vis", "Near-infrared-visible", "near-infrared", "visible", "b"),
    Task("remote", "Remote sensing (one band + PAN)", "multispectral band", "panchromatic", "auto"),
    Task("auto", "Any pair", "first source", "second source", "auto"),
)}

# Working memory the pipeline plans for: at most half of what is available, and at most this much, so that a fusion
# stays small on a shared machine (raise it for speed on very large images: more passes are kept instead of recomputed).
MAX_WORKING_MEMORY = 1 << 30


def get_task(task: str) -> Task:
    key = task.lower().replace("_", "-")
    if key not in TASKS:
        raise GifnetError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[key]


def _model(model: GIFNet | OnnxModel | str | os.PathLike | None) -> GIFNet | OnnxModel:
    return model if isinstance(model, (GIFNet, OnnxModel)) else load_model(model)


def available_memory() -> int | None:
    """Bytes of memory available to this process (Linux: MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_budget() -> int | None:
    """Bytes the network may use for one image: min(half the available memory, MAX_WORKING_MEMORY)."""
    avail = available_memory()
    return MAX_WORKING_MEMORY if avail is None else min(avail // 2, MAX_WORKING_MEMORY)


def check_memory(h: int, w: int, *, precision: str = "fp32", tile: Tile = None) -> Plan:
    """The tiling plan for an h x w image within `memory_budget()`; a GifnetError if even the leanest plan (smallest
    tiles, nothing kept) would not fit in the available memory."""
    plan = make_plan(h, w, precision=precision, tile=tile, budget=memory_budget())
    avail = available_memory()
    if avail is not None and plan.bytes > 0.9 * avail:
        raise GifnetError(f"a {w}x{h} image needs about {plan.bytes / 2**30:.2f} GB to fuse (tiles of {plan.tile} px) "
                          f"but only {avail / 2**30:.2f} GB is available; free some memory, pass a smaller tile "
                          "(--tile) or downscale the image")
    return plan


def run_network(model: GIFNet | OnnxModel, a: np.ndarray, b: np.ndarray, *, precision: str = "fp32",
                tile: Tile = None) -> np.ndarray:
    """Two (H, W) float planes in [0, 1] -> the fused (H, W) float32 plane, computed tile by tile within the memory
    budget (see `gifnet.tiling`). precision: "fp32" (matches the reference model) or "bf16" (faster on CPUs with AMX
    or AVX512-BF16, slightly less exact); tile: None/"auto", "full" (the whole image at once) or a side in pixels.
    Sizes below the network's minimum are refused by `infer`. An OnnxModel (ONNX Runtime backend, gifnet.onnx) runs
    the whole image itself, after its own size and memory checks."""
    if isinstance(model, OnnxModel):
        return model.run(a, b, precision=precision, tile=tile)
    h, w = a.shape
    plan = check_memory(h, w, precision=precision, tile=tile)
    log.debug("%dx%d %s: tiles of %d px, keeping %s, ~%.2f GB", w, h, precision, plan.tile, plan.keep or "nothing",
              plan.bytes / 2**30)
    return infer(model, a, b, precision=precision, plan=plan)


def match_sizes(a_size: tuple[int, int], b: np.ndarray, *, resize: bool, names: tuple[str, str] = ("a", "b"),
                to: tuple[int, int] | None = None) -> np.ndarray:
    """The second image of a pair at the first's size: `b` unchanged when its (H, W) equals `a_size`, resampled to
    `a_size` (or to `to`, e.g. a downscaled first image) when `resize`, else a GifnetError (parameter `resize`): two
    images of one scene must be registered, and resampling is only right for the same field of view."""
    (ha, wa), (hb, wb) = a_size, b.shape[:2]
    if (ha, wa) != (hb, wb):
        if not resize:
            raise GifnetError(f"sizes differ: {names[0]} is {wa}x{ha}, {names[1]} is {wb}x{hb}; register the images "
                              "first, or pass resize=True (CLI: --resize) to resample the second to the first",
                              param="resize")
        log.warning("resampling %s from %dx%d to %dx%d", names[1], wb, hb, wa, ha)
    target = to or (ha, wa)
    return b if b.shape[:2] == tuple(target) else resize_image(b, target)


def output_bits(*bits: int) -> int:
    """The bit depth of a result from its inputs' (8, 16, or 32 for float): 16 if any input had 16 bits, float (32)
    if all were float, else 8."""
    return 16 if 16 in bits else (32 if all(x == 32 for x in bits) else 8)


def _read_pair(a: ImageLike, b: ImageLike, resize: bool):
    (pa, bits_a), (pb, bits_b) = read_image(a), read_image(b)
    pb = match_sizes(pa.shape[:2], pb, resize=resize, names=(describe(a), describe(b)))
    return pa, pb, output_bits(bits_a, bits_b)


def _colour_sources(task: Task, pa: np.ndarray, pb: np.ndarray) -> list[np.ndarray]:
    wanted = {"a": [pa], "b": [pb], "both": [pa, pb], "auto": [pa, pb]}[task.colour_from]
    return [p for p in wanted if p.ndim == 3]


def compose(y: np.ndarray, colour_sources: Sequence[np.ndarray]) -> np.ndarray:
    """Put colour back on the fused luma `y`: no colour source -> grey; one -> its chroma; two -> chromas fused."""
    if not colour_sources:
        return y
    chromas = [rgb_to_ycbcr(p)[1:] for p in colour_sources]
    if len(chromas) == 1:
        cb, cr = chromas[0]
    else:
        cb, cr = fuse_chroma(chromas[0][0], chromas[1][0]), fuse_chroma(chromas[0][1], chromas[1][1])
    return ycbcr_to_rgb(y, cb, cr)


def fuse(a: ImageLike, b: ImageLike, *, task: str = "auto", model: GIFNet | str | None = None,
         resize: bool = False, precision: str = "fp32", tile: Tile = None) -> np.ndarray:
    """Fuse two registered images of one scene. `a`, `b` go in the task's slots (see TASKS: e.g. ivif = infrared,
    visible; medical = PET/SPECT, MRI). `model` is a GIFNet or any source `load_model` accepts (default weights if
    None). Returns the fused image at the input size; RGB when the task's colour source is colour, else grey.
    `precision` ("fp32" or "bf16") and `tile` (None/"auto", "full" or a side in pixels): see `run_network`."""
    t = get_task(task)
    check_precision(precision)
    pa, pb, bits = _read_pair(a, b, resize)
    y = run_network(_model(model), luma(pa), luma(pb), precision=precision, tile=tile)
    return to_dtype(compose(y, _colour_sources(t, pa, pb)), bits)


def enhance(img: ImageLike, *, model: GIFNet | str | None = None, precision: str = "fp32",
            tile: Tile = None) -> np.ndarray:
    """Single-image enhancement: the image in both slots (more contrast and detail), its own colour kept."""
    check_precision(precision)
    p, bits = read_image(img)
    y = luma(p)
    fused = run_network(_model(model), y, y, precision=precision, tile=tile)
    return to_dtype(compose(fused, [p] if p.ndim == 3 else []), bits)


# -------------------------------------------------------------------------------------------------- remote sensing
def match_histogram(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Exact histogram specification: the k-th smallest pixel of `x` takes the value of the k-th smallest pixel of
    `reference` (quantile mapping when the sizes differ)."""
    order = np.argsort(x, axis=None, kind="stable")
    ref_sorted = np.sort(reference, axis=None)
    if ref_sorted.size != x.size:
        ref_sorted = np.interp(np.linspace(0, 1, x.size), np.linspace(0, 1, ref_sorted.size), ref_sorted)
    out = np.empty(x.size, np.float32)
    out[order] = ref_sorted
    return out.reshape(x.shape)


def reassemble_band(fused: np.ndarray, band: np.ndarray, *, sigma: float = 2.0) -> np.ndarray:
    """The release's post-processing of one fused band, in Python: split the fused band into a Gaussian-blurred base
    and a detail layer (fused - base), give the base the histogram of the original multispectral band (spectral
    fidelity), add the detail back (the PAN's spatial detail). `sigma` is our choice (the release's
    value is not known to us)."""
    base = gaussian_blur(fused, sigma)
    return np.clip(match_histogram(base, band) + (fused - base), 0, 1).astype(np.float32)


def read_bands(ms: ImageLike | Sequence[ImageLike], *, max_bytes: int | None = None,
               names: Sequence[str] | None = None) -> tuple[list[np.ndarray], int]:
    """The bands of a multispectral image, (H, W) float planes, and their bit depth: the bands of one multi-band
    image (TIFF or array), or a list of single-band images in order (an RGB file in the list is refused).
    `max_bytes`: the reader's size limit for each file (see `gifnet.image.read_image`); `names`: how errors call
    the list's files (default: their own names)."""
    if isinstance(ms, (list, tuple)):
        planes = [read_image(b, max_bytes=max_bytes) for b in ms]
        for i, ((p, _), src) in enumerate(zip(planes, ms)):
            if p.ndim != 2:
                what = names[i] if names else describe(src)
                raise GifnetError(f"{what}: each band of the list must be a single-channel image")
        return [p for p, _ in planes], output_bits(*(b for _, b in planes))
    pixels, bits = read_image(ms, allow_bands=True, max_bytes=max_bytes)
    if pixels.ndim == 2:
        return [pixels], bits
    return [pixels[..., i] for i in range(pixels.shape[2])], bits


def fuse_multispectral(ms: ImageLike | Sequence[ImageLike], pan: ImageLike,
                       *, model: GIFNet | str | None = None, resize: bool = False,
                       sigma: float = 2.0, precision: str = "fp32", tile: Tile = None) -> np.ndarray:
    """Pansharpen: fuse every band of a multispectral image (a multi-band TIFF/array or a list of single bands) with
    the panchromatic image (band in slot a, PAN in slot b), reassemble each band (`reassemble_band`) and stack them.
    Returns (H, W, bands) at PAN's resolution (bands are resampled to it only with resize=True)."""
    check_precision(precision)
    bands, bits = read_bands(ms)
    p, pan_bits = read_image(pan)
    p = luma(p)
    net = _model(model)
    out = []
    for i, band in enumerate(bands):
        if band.shape != p.shape:
            if not resize:
                raise GifnetError(f"band {i + 1} is {band.shape[1]}x{band.shape[0]} but PAN is {p.shape[1]}x"
                                  f"{p.shape[0]}; pass resize=True (CLI: --resize) to upsample the bands to PAN")
            band = resize_image(band, p.shape)
        out.append(reassemble_band(run_network(net, band, p, precision=precision, tile=tile), band, sigma=sigma))
    return to_dtype(np.stack(out, axis=-1), output_bits(bits, pan_bits))
