"""The Gradio demo: `gifnet demo`, `python demo/app.py`, or a Hugging Face Space (demo/README.md).

Three tabs, each a thin layer over gifnet.pipeline:
    Fuse            two images + a task preset (relabels the inputs, sets the colour rule) -> the fused image
    Enhance         one image -> the enhanced image (the image in both slots)
    Remote sensing  a multispectral image (one multi-band TIFF or one file per band) + PAN -> every band sharpened
Named API endpoints for gradio_client: /fuse, /enhance and /fuse_ms (see README.md).

Robustness (a public Space gets every kind of input):
  - one request at a time per worker by default (a queue, GIFNET_DEMO_CONCURRENCY), uploads capped at
    GIFNET_DEMO_MAX_UPLOAD ("25mb"), images above GIFNET_DEMO_MAX_PIXELS (1 MP on CPU, 16 MP on a GPU) are
    downscaled with a visible notice: the one switch for large images (see `pixel_limit`);
  - decompression bombs are refused from the file's header, before decoding: an upload whose pixels would take more
    than GIFNET_DEMO_MAX_IMAGE_MB (256) as float32 is refused (gifnet.image.check_size), so one request stays far
    below 2 GB;
  - inputs are read by gifnet.image.read_image (grey, RGB, RGBA, 16-bit, TIFF); anything else, and every other failure,
    is a gr.Error with a one-line message; the server stays up;
  - no user's files are visible to another: no shared state, every result goes to its own random folder, Gradio
    serves files only by unguessable hashed URLs;
  - temp disk stays bounded: the demo keeps its files in a cache folder of its own ($GRADIO_TEMP_DIR, by default
    <tmp>/gifnet-demo-cache), results are written once, straight into it (no second copy), and a sweeper thread
    deletes uploads, previews and results older than RESULT_TTL_S (10 min) every SWEEP_S (1 min), examples excepted
    (`sweep_cache`; Gradio's own `delete_cache` is set too, but its loop dies on a race with requests).
Weights: the `weights` argument of `build_demo`/`launch` (`gifnet demo --weights`), else what `gifnet.load_model`
resolves by default ($GIFNET_WEIGHTS, else the bundled weights); loaded once on first use.
On a ZeroGPU Space the network calls run under `spaces.GPU`; elsewhere that decoration is a no-op.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
import numpy as np
import torch
from gradio.utils import get_upload_folder as gradio_cache

from . import __version__
from .errors import GifnetError
from .hub import HUB_ID, load_model, offline, resolve_source
from .image import luma, max_image_bytes, read_image, resize, to_dtype, write_image
from .model import GIFNet
from .pipeline import TASKS, enhance, fuse, fuse_multispectral, match_sizes, output_bits, read_bands

log = logging.getLogger(__name__)

try:  # on Spaces: the network calls borrow a GPU per call on ZeroGPU hardware; the decoration is inert elsewhere
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn: Callable) -> Callable:
        return fn

ZEROGPU = "spaces" in globals() and bool(os.environ.get("SPACES_ZERO_GPU"))
DEVICE = "cuda" if (ZEROGPU or torch.cuda.is_available()) else "cpu"
MAX_PIXELS = int(os.environ.get("GIFNET_DEMO_MAX_PIXELS", 16_000_000 if DEVICE == "cuda" else 1_000_000))
MAX_UPLOAD = os.environ.get("GIFNET_DEMO_MAX_UPLOAD", "25mb")
CONCURRENCY = int(os.environ.get("GIFNET_DEMO_CONCURRENCY", 1))
QUEUE_SIZE = int(os.environ.get("GIFNET_DEMO_QUEUE", 32))
MAX_IMAGE_BYTES = int(os.environ.get("GIFNET_DEMO_MAX_IMAGE_MB", 256)) * 2**20   # float32 pixels of one upload
RESULT_TTL_S = 600      # uploads, previews and results older than this are deleted ...
SWEEP_S = 60            # ... this often

FUSE_METRICS = ("en", "sd", "sf", "ag", "qabf", "ssim")
ENHANCE_METRICS = ("en", "sd", "sf", "ag")
METRIC_INFO = {  # name -> (label, what it measures); higher is better for all of these
    "en": ("EN", "entropy: information content"),
    "sd": ("SD", "standard deviation: contrast"),
    "sf": ("SF", "spatial frequency: activity"),
    "ag": ("AG", "average gradient: sharpness"),
    "qabf": ("Qabf", "edges carried over from the sources"),
    "ssim": ("SSIM", "structural similarity, summed over both sources"),
}
FUSE_TASKS = ("ivif", "mfif", "meif", "medical", "nir-vis", "remote", "auto")
COLOUR_RULE = {"a": "colour from the first image", "b": "colour from the second image",
               "both": "both images' colours fused", "auto": "colour from whichever input is colour"}


# ---------------------------------------------------------------------------------------------------- the model
_models: dict[str, GIFNet] = {}
_models_lock = threading.Lock()


WEIGHTS: str | None = None     # the weights source given to build_demo/launch (None: gifnet.hub's default)


def weights_source() -> str:
    """The served weights: the source given to `build_demo`/`launch`, resolved as `gifnet.load_model` does."""
    return str(resolve_source(WEIGHTS))


def weights_label() -> str:
    """What the page says about the weights, without revealing server paths."""
    source = weights_source()
    if source == "official":
        return "the authors' released checkpoint"
    return Path(source).name if Path(source).exists() else source


def weights_card() -> tuple[str, str]:
    """(one line for the header, Markdown for the "About the served weights" panel), read from the weights' source:
    a local folder's model card (README.md: its title and its "## Evaluation" section), a Hub repository's page, or
    the authors' paper."""
    source, name = weights_source(), weights_label()
    card = Path(source) / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        title = re.search(r"^# .*?(?: — |: )(.+)$", text, re.MULTILINE)
        evaluation = re.search(r"^## Evaluation\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
        line = f"**{name}**" + (f" — {title.group(1).strip()}" if title else "")
        body = (evaluation.group(1).strip() if evaluation else "Its model card has no evaluation section.")
        return (line + " · [evaluation](#weights-card)",
                f"From the model card of **{name}** (`{Path(source).name}/README.md`):\n\n{body}")
    if source == "official":
        link = "https://arxiv.org/abs/2502.19854"
        return (f"**{name}** · [evaluation in the paper]({link})",
                f"The authors' evaluation: the tables of the [paper]({link}); this project's comparison: "
                "BENCHMARKS.md in the repository.")
    if HUB_ID.match(source):
        url = "https://huggingface.co/" + source.split("@")[0]
        return (f"**{name}** · [model card and evaluation]({url})", f"The model card: [{url}]({url}).")
    return f"**{name}** (no model card found)", "These weights came without a model card."


def get_model() -> GIFNet:
    """The network for the current weights source, loaded once (thread-safe); load errors become gr.Error."""
    source = weights_source()
    with _models_lock:
        if source not in _models:
            try:
                _models[source] = load_model(source, device=DEVICE)
            except GifnetError as e:     # the server's problem: the details (paths, variables) go to its log
                log.error("could not load the weights: %s", e)
                raise user_error(f"This demo could not load its weights ({weights_label()}), so it cannot process "
                                 "images now; this is not a problem with your images. Its maintainer will find the "
                                 "reason in the server's log.") from None
        return _models[source]


# ------------------------------------------------------------------------------------------------ error handling
def _release_memory() -> None:
    """Give the heap memory freed by a request back to the system (glibc keeps it otherwise: a large request would
    leave the server hundreds of MB bigger for the next one). Does nothing where libc is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def user_errors(fn: Callable) -> Callable:
    """Turn every failure of a handler into a gr.Error (a message in the page); the server keeps serving. Memory the
    request freed is returned to the system afterwards."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GifnetError as e:
            raise user_error(str(e)) from None
        except MemoryError:
            raise user_error("Out of memory for this image; try a smaller one") from None
        except Exception as e:  # a bug: log it for the maintainers, show one line to the user
            log.exception("demo handler %s failed", fn.__name__)
            raise gr.Error(f"Unexpected error ({type(e).__name__}); please report it with the input that caused it",
                           print_exception=False) from None
        finally:
            _release_memory()
    return wrapper


def _strip_temp_paths(message: str) -> str:
    """Gradio stores uploads as <temp>/gradio/<hash>/<name>; show users only <name>."""
    return re.sub(re.escape(gradio_cache().rstrip("/")) + r"/(gifnet/)?[0-9a-f]+/", "", message)


def user_error(message: str) -> gr.Error:
    """A message for the page (no server-side traceback: it is the input's fault, not a bug)."""
    return gr.Error(_strip_temp_paths(message), print_exception=False)


def _upload_path(payload) -> str | None:
    if payload is None:
        return None
    if payload.path is None:
        raise user_error("The upload did not arrive as a file; upload the image again")
    return str(payload.path)


def source_image(**kwargs) -> gr.Image:
    """An image input whose handler gets the uploaded file untouched: the handler reads it with read_image, which keeps
    16 bits and reports unreadable files clearly (gr.Image itself would first decode it with PIL, and fail on a
    non-image without a message). Set on the instance: a gr.Image subclass would make Gradio write a .pyi file into
    this package at import."""
    image = gr.Image(type="filepath", image_mode=None, format="png", sources=["upload", "clipboard"], **kwargs)
    image.preprocess = _upload_path
    return image


# ---------------------------------------------------------------------------------------------------- helpers
def _name(path: str | None) -> str:
    return Path(path).name if path else "image"


def _cap(share: int = 1) -> int:
    """The demo's lower size cap for one file (MAX_IMAGE_BYTES, divided among `share` files read together)."""
    return min(MAX_IMAGE_BYTES, max_image_bytes()) // share


def _read(path: str | None, what: str, allow_bands: bool = False, share: int = 1) -> tuple[np.ndarray, int]:
    """read_image with the demo's lower cap (`_cap`)."""
    if not path:
        raise user_error(f"Upload the {what}")
    try:
        return read_image(path, allow_bands=allow_bands, max_bytes=_cap(share))
    except GifnetError as e:
        raise user_error(f"{what[0].upper() + what[1:]}: {e}") from None


def size_of(pixels: np.ndarray) -> str:
    return f"{pixels.shape[1]}x{pixels.shape[0]}"


def pixel_limit(images: Sequence[np.ndarray], notices: list[str]) -> list[np.ndarray]:
    """The single switch for large images: above MAX_PIXELS every image is downscaled by one factor, with a visible
    notice. Memory is not the reason (the pipeline fuses any size tile by tile in bounded memory); time on shared demo
    hardware is. Set GIFNET_DEMO_MAX_PIXELS to change the limit."""
    h, w = images[0].shape[:2]
    if h * w <= MAX_PIXELS:
        return list(images)
    s = (MAX_PIXELS / (h * w)) ** 0.5
    size = (max(8, int(h * s)), max(8, int(w * s)))
    notices.append(f"Downscaled from {w}x{h} to {size[1]}x{size[0]} to stay within this demo's "
                   f"{MAX_PIXELS / 1e6:g} MP limit; run `gifnet fuse` locally for full resolution.")
    gr.Warning(notices[-1])
    return [resize(img, size) for img in images]


def sweep_cache(keep: frozenset = frozenset()) -> int:
    """Delete the files of the demo's cache folder created more than RESULT_TTL_S ago (ctime, as Gradio ages them),
    except those in `keep` (real paths: the examples), then the folders left empty and as old; returns the number of
    files deleted."""
    root, now, deleted = Path(gradio_cache()), time.time(), 0
    for folder, dirs, names in os.walk(root, topdown=False):
        for name in names:
            path = os.path.join(folder, name)
            try:
                if now - os.lstat(path).st_ctime > RESULT_TTL_S and os.path.realpath(path) not in keep:
                    os.unlink(path)
                    deleted += 1
            except OSError:
                pass
        if folder != str(root):
            try:
                if not os.listdir(folder) and now - os.lstat(folder).st_mtime > RESULT_TTL_S:
                    os.rmdir(folder)
            except OSError:
                pass
    return deleted


def _sweeper(demo: gr.Blocks) -> None:
    """Every SWEEP_S while the app runs: `sweep_cache`, keeping the files Gradio marks as kept (the examples)."""
    started = False
    while True:
        time.sleep(SWEEP_S)
        started = started or demo.is_running
        if not demo.is_running:
            if started:
                return                                  # closed
            continue                                    # still starting
        keep = frozenset(os.path.realpath(f) for block in demo.blocks.values()
                         for f in getattr(block, "keep_in_cache", ()))
        try:
            sweep_cache(keep)
        except Exception:  # never let the sweeper die: log and go on
            log.exception("sweeping the demo's cache failed")


def output_root() -> Path:
    """Where results go: a folder inside Gradio's cache, so Gradio serves them in place (no copy) and its
    `delete_cache` removes them with the uploads and previews."""
    return Path(gradio_cache()) / "gifnet"


def output_dir() -> Path:
    """A fresh private folder for one request's files (emptied and removed by `sweep_cache`)."""
    root = output_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    d = root / uuid.uuid4().hex
    d.mkdir(mode=0o700)
    return d


def preview(pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB for display (grey repeated); the download keeps the full precision."""
    p = np.clip(pixels, 0, 1)
    if p.ndim == 2:
        p = np.repeat(p[..., None], 3, axis=-1)
    return np.round(p * 255).astype(np.uint8)


def metrics_rows(result: np.ndarray, a: np.ndarray, b: np.ndarray, names: Sequence[str],
                 before: np.ndarray | None = None) -> list[list[Any]]:
    """A compact table from gifnet.metrics.measure (the one metrics implementation): [metric, value, meaning], or
    [metric, before, after, meaning] when `before` is given (enhancement). Arrays are float in [0, 1]."""
    pad = [""] * (before is not None)
    try:
        from .metrics import measure
    except ImportError:
        return [["—", *pad, "unavailable: this gifnet has no metrics module", ""]]
    try:
        after = measure(result, a, b, metrics=list(names))
        prior = measure(before, a, b, metrics=list(names)) if before is not None else None
    except GifnetError as e:
        return [["—", *pad, f"could not be computed: {e}", ""]]
    rows = []
    for n in names:
        label, meaning = METRIC_INFO[n]
        values = ([round(float(prior[n]), 4)] if prior is not None else []) + [round(float(after[n]), 4)]
        rows.append([label, *values, meaning])
    return rows


def notice_md(notices: list[str], done: str) -> str:
    return "\n".join([f"**{done}**"] + [f"- ⚠️ {n}" for n in notices])


# ----------------------------------------------------------------------------------------------- network calls
@gpu
def _fuse_planes(pa: np.ndarray, pb: np.ndarray, task: str) -> np.ndarray:
    return fuse(pa, pb, task=task, model=get_model())


@gpu
def _enhance_plane(p: np.ndarray) -> np.ndarray:
    return enhance(p, model=get_model())


@gpu
def _fuse_band(band: np.ndarray, pan: np.ndarray) -> np.ndarray:
    return fuse_multispectral([band], pan, model=get_model())[..., 0]


# ------------------------------------------------------------------------------------------------------ handlers
@user_errors
def fuse_images(image_a: str | None, image_b: str | None, task: str = "auto", resample: bool = False,
                progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """Fuse two images. Inputs: two image files in the task's slot order (see TASKS), the task key, and whether to
    resample the second image to the first's size when they differ. Returns (before/after pair, lossless PNG path,
    metrics table, notices, state for the compare switch)."""
    if task not in TASKS:
        raise user_error(f"Unknown task {task!r}; choose one of {', '.join(FUSE_TASKS)}")
    t = TASKS[task]
    progress(0.05, desc="Reading the images")
    notices: list[str] = []
    pa, bits_a = _read(image_a, f"first image ({t.slot_a})")
    shape_a, size_a = pa.shape[:2], size_of(pa)
    (pa,) = pixel_limit([pa], notices)          # before the second is read: one large image in memory at a time
    pb, bits_b = _read(image_b, f"second image ({t.slot_b})")
    size_b = size_of(pb)
    try:                                        # the pipeline's size check; resampled to the (downscaled) first
        pb = match_sizes(shape_a, pb, resize=resample, to=pa.shape[:2])
    except GifnetError:
        raise user_error(f"The images differ in size: {t.slot_a} {size_a}, {t.slot_b} {size_b}. Tick "
                         "'Resample the second image to the first' (only for images of the same scene), or "
                         "register them first") from None
    if size_b != size_a:
        notices.append(f"The {t.slot_b} image was resampled from {size_b} to {size_a} to match the {t.slot_a} image.")
    progress(0.2, desc="Fusing")
    fused = _fuse_planes(pa, pb, task)                                   # float32 in [0, 1]
    out_bits = output_bits(bits_a, bits_b)
    out = output_dir() / f"gifnet_{task}_{Path(_name(image_a)).stem}.png"
    write_image(to_dtype(fused, out_bits), out)
    progress(0.85, desc="Scoring")
    table = metrics_rows(fused, pa, pb, FUSE_METRICS)
    done = f"Fused {size_of(fused)} ({t.title}); the download is a lossless {out_bits}-bit PNG."
    state = {"a": preview(pa), "b": preview(pb), "fused": preview(fused)}
    return (state["a"], state["fused"]), str(out), table, notice_md(notices, done), state


@user_errors
def enhance_image(image: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """Enhance one image (the image in both slots; its colour kept). Returns (before/after pair, lossless PNG path,
    metrics table before/after, notices)."""
    progress(0.05, desc="Reading the image")
    p, bits = _read(image, "image")
    notices: list[str] = []
    (p,) = pixel_limit([p], notices)
    progress(0.2, desc="Enhancing")
    enhanced = _enhance_plane(p)
    out = output_dir() / f"gifnet_enhanced_{Path(_name(image)).stem}.png"
    write_image(to_dtype(enhanced, output_bits(bits)), out)
    progress(0.85, desc="Scoring")
    table = metrics_rows(enhanced, p, p, ENHANCE_METRICS, before=p)
    done = f"Enhanced {size_of(enhanced)}; the download is a lossless {output_bits(bits)}-bit PNG."
    return (preview(p), preview(enhanced)), str(out), table, notice_md(notices, done)


def _parse_bands(text: str, n: int) -> list[int]:
    if n < 3:
        return [0] * 3
    if not text or not text.strip():
        return [0, 1, 2]
    try:
        idx = [int(x) - 1 for x in text.replace(" ", "").split(",")]
    except ValueError:
        raise user_error(f"RGB bands must be three numbers like 3,2,1 (got {text!r})") from None
    if len(idx) != 3 or not all(0 <= i < n for i in idx):
        raise user_error(f"RGB bands must be three band numbers between 1 and {n} (got {text!r})")
    return idx


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """2-98 % per-channel stretch (multispectral data are often dark); for the preview only."""
    lo, hi = np.percentile(rgb, 2, axis=(0, 1)), np.percentile(rgb, 98, axis=(0, 1))
    return np.clip((rgb - lo) / np.maximum(hi - lo, 1e-6), 0, 1)


@user_errors
def fuse_remote(ms_files: Sequence[str] | None, pan_file: str | None, resample: bool = False,
                rgb_bands: str = "", progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """Pansharpen: a multispectral image (one multi-band file, or one single-band file per band, in order) and a
    panchromatic image. Returns (before/after RGB preview pair, multi-band TIFF path, notices)."""
    files = [f for f in (ms_files or []) if f]
    if not files:
        raise user_error("Upload the multispectral image: one multi-band TIFF, or one file per band")
    progress(0.02, desc="Reading the images")
    share = len(files) + 1                      # every file is held at once: they share the demo's cap
    try:                                        # the pipeline's band reading
        bands, bits = read_bands(files[0] if len(files) == 1 else files, max_bytes=_cap(share),
                                 names=[f"band {i + 1}" for i in range(len(files))])
    except GifnetError as e:
        raise user_error(f"Multispectral image: {e}") from None
    pan, pan_bits = _read(pan_file, "panchromatic image", share=share)
    pan = luma(pan)
    notices: list[str] = []
    mismatched = [i for i, band in enumerate(bands) if band.shape != pan.shape]
    if mismatched and not resample:
        i = mismatched[0]
        raise user_error(f"Band {i + 1} is {size_of(bands[i])} but the panchromatic image is {size_of(pan)}; tick "
                       "'Upsample the bands to the PAN image'")
    if mismatched:
        notices.append(f"{len(mismatched)} band(s) resampled from {size_of(bands[mismatched[0]])} to the panchromatic "
                       f"image's {size_of(pan)}.")
        bands = [match_sizes(pan.shape, b, resize=True) for b in bands]
    rgb_idx = _parse_bands(rgb_bands, len(bands))
    *bands, pan = pixel_limit([*bands, pan], notices)
    out_bands = []
    for i, band in enumerate(bands):
        progress((i, len(bands)), desc=f"Fusing band {i + 1} of {len(bands)}")
        out_bands.append(_fuse_band(band, pan))
    result = np.stack(out_bands, axis=-1)
    out_bits = output_bits(bits, pan_bits)
    out = output_dir() / "gifnet_pansharpened.tif"
    write_image(to_dtype(result, out_bits), out)
    before = _stretch(np.stack([bands[i] for i in rgb_idx], axis=-1))
    after = _stretch(np.stack([result[..., i] for i in rgb_idx], axis=-1))
    shown = "band 1 as grey" if len(bands) < 3 else f"bands {','.join(str(i + 1) for i in rgb_idx)} as RGB"
    done = (f"Sharpened {len(bands)} band(s) at {size_of(pan)}; the download is a {out_bits}-bit {len(bands)}-band "
            f"TIFF. Preview: {shown}, contrast-stretched.")
    return (preview(before), preview(after)), str(out), notice_md(notices, done)


def compare_with(which: str, state: dict | None):
    """Switch the slider's left image between the two sources (no recomputation)."""
    if not state:
        return None
    return state["a" if which == "first" else "b"], state["fused"]


def relabel(task: str):
    """A task preset: new labels for the two inputs and the colour rule."""
    t = TASKS.get(task, TASKS["auto"])
    note = f"**{t.title}**: first = {t.slot_a}, second = {t.slot_b}; {COLOUR_RULE[t.colour_from]}. Order matters."
    return (gr.update(label=f"First: {t.slot_a}"), gr.update(label=f"Second: {t.slot_b}"), note,
            gr.update(choices=[(f"first ({t.slot_a})", "first"), (f"second ({t.slot_b})", "second")]))


def swap(a, b):
    return b, a


def sample_unavailable(error: GifnetError) -> str:
    """The page's message when the authors' sample cannot be had (the library's advice is for the command line)."""
    why = ("this server runs offline and has no copy" if offline() else
           "the download from the authors' GitHub repository failed" if "download" in str(error) else
           _strip_temp_paths(str(error)))
    return (f"The authors' sample could not be loaded: {why}. Your inputs are unchanged; try an example below or "
            "upload your own images.")


@user_errors
def load_sample(task: str):
    """The authors' public sample pair for `task` (gifnet.samples: checksummed download or $GIFNET_SAMPLES) into the
    two inputs. Remote sensing in this tab is one band + PAN: band 1 of the sample's multispectral image. When it
    cannot be had, a warning says why and the inputs stay as they were."""
    from .samples import sample_pair

    try:
        a, b = sample_pair(task if task != "auto" else "ivif")
    except GifnetError as e:
        gr.Warning(sample_unavailable(e))
        return gr.update(), gr.update()
    d = output_dir()       # Gradio serves files from the temp dir: copy them out of the user cache
    if task == "remote":
        band, bits = read_image(a, allow_bands=True)
        band = band[..., 0] if band.ndim == 3 else band
        return str(write_image(to_dtype(band, bits), d / "band1.tif")), str(shutil.copy(b, d / f"pan{b.suffix}"))
    return str(shutil.copy(a, d / f"a_{a.name}")), str(shutil.copy(b, d / f"b_{b.name}"))


@user_errors
def load_remote_sample():
    from .samples import sample_pair

    try:
        ms, pan = sample_pair("remote")
    except GifnetError as e:
        gr.Warning(sample_unavailable(e))
        return gr.update(), gr.update()
    d = output_dir()
    return [str(shutil.copy(ms, d / f"ms{ms.suffix}"))], str(shutil.copy(pan, d / f"pan{pan.suffix}"))


# ------------------------------------------------------------------------------------------------------ the app
def _examples(folder: Path | None = None):
    try:
        from .examples import make_examples

        return make_examples(folder or Path(tempfile.gettempdir()) / "gifnet-demo-examples")
    except ImportError as e:  # scikit-image is a demo extra
        log.warning("no offline examples (%s); pip install scikit-image", e)
        return []


HEADER = """# GIFNet image fusion
One small network for infrared-visible, multi-focus, multi-exposure, medical, NIR-visible and remote-sensing fusion,
and single-image enhancement ([paper](https://arxiv.org/abs/2502.19854), CVPR 2025). Pick a task, upload two registered
images of one scene **in the order shown** (or click an example below), press **Fuse**.
Weights: {weights} · gifnet {version} · {device}."""
IVIF_NOTE = """The infrared-visible example is synthesised (a photo behind synthetic smoke, and its brightness without
the smoke as a stand-in for a thermal image). For real pairs press **Load the authors' sample (online)** or download the
[TNO Image Fusion Dataset](https://figshare.com/articles/dataset/TNO_Image_Fusion_Dataset/1008029) (A. Toet)."""


def build_demo(examples_dir: Path | None = None, *, weights: str | None = None) -> gr.Blocks:
    """The Blocks app (not launched), serving `weights` (any source `gifnet.load_model` accepts; None: its default,
    $GIFNET_WEIGHTS or the bundled weights). Call `launch()` to serve it with the queue and limits. Sets
    GRADIO_TEMP_DIR to a cache folder of the demo's own unless it is set (the sweeper deletes old files there)."""
    global WEIGHTS
    WEIGHTS = weights
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "gifnet-demo-cache"))
    examples = _examples(examples_dir)
    if ZEROGPU:
        get_model()   # ZeroGPU wants the model placed on "cuda" at start-up, outside the @spaces.GPU functions
    first = TASKS["ivif"]
    sweep = (SWEEP_S, RESULT_TTL_S)   # every minute, delete uploads, previews and results older than 10 minutes
    with gr.Blocks(title="GIFNet image fusion", delete_cache=sweep, analytics_enabled=False) as demo:
        card_line, card_body = weights_card()
        gr.Markdown(HEADER.format(weights=card_line, version=__version__, device=DEVICE.upper()), elem_id="header")
        with gr.Tab("Fuse", id="fuse"):
            with gr.Row():
                with gr.Column():
                    task = gr.Dropdown([(TASKS[k].title, k) for k in FUSE_TASKS], value="ivif", label="Task",
                                       elem_id="fuse-task")
                    task_note = gr.Markdown(relabel("ivif")[2])
                    with gr.Row():
                        img_a = source_image(label=f"First: {first.slot_a}", elem_id="fuse-a", height=260)
                        img_b = source_image(label=f"Second: {first.slot_b}", elem_id="fuse-b", height=260)
                    with gr.Row():
                        swap_btn = gr.Button("⇄ Swap inputs", size="sm", elem_id="fuse-swap")
                        sample_btn = gr.Button("Load the authors' sample (online)", size="sm")
                    resample = gr.Checkbox(False, label="Resample the second image to the first if sizes differ")
                    run = gr.Button("Fuse", variant="primary", elem_id="fuse-run")
                    shown = [e for e in examples if e.task in ("ivif", "mfif", "meif")]
                    if shown:
                        gr.Examples([[str(e.files[0]), str(e.files[1]), e.task] for e in shown],
                                    inputs=[img_a, img_b, task], label="Examples (offline, synthesised)",
                                    example_labels=[e.title for e in shown], elem_id="fuse-examples")
                    gr.Markdown(IVIF_NOTE, elem_id="ivif-note")
                with gr.Column():
                    slider = gr.ImageSlider(label="Source ↔ fused (drag the handle)", format="png",
                                            interactive=False, elem_id="fuse-result", max_height=520)
                    compare = gr.Radio(relabel("ivif")[3]["choices"], value="first", label="Compare the result with")
                    download = gr.DownloadButton("Download the fused image (lossless PNG)", elem_id="fuse-download")
                    notice = gr.Markdown(elem_id="fuse-notice")
                    table = gr.Dataframe(headers=["metric", "value", "meaning"], label="Metrics of the result (higher "
                                         "is better)", interactive=False, elem_id="fuse-metrics", max_height=260)
            state = gr.State()
            task.change(relabel, task, [img_a, img_b, task_note, compare], api_visibility="private")
            swap_btn.click(swap, [img_a, img_b], [img_a, img_b], api_visibility="private")
            sample_btn.click(load_sample, task, [img_a, img_b], api_visibility="private")
            run.click(fuse_images, [img_a, img_b, task, resample], [slider, download, table, notice, state],
                      api_name="fuse")
            compare.change(compare_with, [compare, state], slider, api_visibility="private")

        with gr.Tab("Enhance", id="enhance"):
            with gr.Row():
                with gr.Column():
                    img = source_image(label="Image", elem_id="enhance-in", height=300)
                    run_e = gr.Button("Enhance", variant="primary", elem_id="enhance-run")
                    ex = [[str(e.files[0])] for e in examples if e.task == "enhance"]
                    if ex:
                        gr.Examples(ex, inputs=[img], label="Synthesised low-contrast examples (offline)",
                                    elem_id="enhance-examples")
                with gr.Column():
                    slider_e = gr.ImageSlider(label="Original ↔ enhanced", format="png", interactive=False,
                                              elem_id="enhance-result", max_height=520)
                    download_e = gr.DownloadButton("Download the enhanced image (lossless PNG)",
                                                   elem_id="enhance-download")
                    notice_e = gr.Markdown(elem_id="enhance-notice")
                    table_e = gr.Dataframe(headers=["metric", "before", "after", "meaning"], interactive=False,
                                           label="Before and after (higher is better)")
            run_e.click(enhance_image, img, [slider_e, download_e, table_e, notice_e], api_name="enhance")

        with gr.Tab("Remote sensing", id="remote"):
            with gr.Row():
                with gr.Column():
                    ms = gr.File(file_count="multiple", label="Multispectral: one multi-band TIFF, or one file per "
                                 "band (in order)", elem_id="remote-ms")
                    pan = gr.File(label="Panchromatic", elem_id="remote-pan")
                    bands = gr.Textbox("", label="Bands to preview as RGB (e.g. 3,2,1; empty: 1,2,3)")
                    resample_r = gr.Checkbox(False, label="Upsample the bands to the PAN image if sizes differ")
                    with gr.Row():
                        run_r = gr.Button("Sharpen", variant="primary", elem_id="remote-run")
                        sample_r = gr.Button("Load the authors' sample (online)", size="sm")
                    ex = [[[str(e.files[0])], str(e.files[1]), True, ""] for e in examples if e.task == "remote"]
                    if ex:
                        gr.Examples(ex, inputs=[ms, pan, resample_r, bands], label="Synthesised example (offline)",
                                    example_labels=[e.title for e in examples if e.task == "remote"],
                                    elem_id="remote-examples")
                with gr.Column():
                    slider_r = gr.ImageSlider(label="Multispectral ↔ sharpened (preview)", format="png",
                                              interactive=False, max_height=520, elem_id="remote-result")
                    download_r = gr.DownloadButton("Download all bands (TIFF)", elem_id="remote-download")
                    notice_r = gr.Markdown(elem_id="remote-notice")
            run_r.click(fuse_remote, [ms, pan, resample_r, bands], [slider_r, download_r, notice_r], api_name="fuse_ms")
            sample_r.click(load_remote_sample, None, [ms, pan], api_visibility="private")
        with gr.Accordion(f"About the served weights: {weights_label()}", open=False, elem_id="weights-card"):
            gr.Markdown(card_body)
    return demo


def launch(host: str = "127.0.0.1", port: int | None = None, share: bool = False, demo: gr.Blocks | None = None,
           *, weights: str | None = None, **kwargs) -> gr.Blocks:
    """Serve the demo (`demo`, or `build_demo(weights=weights)`) with its queue (CONCURRENCY workers, QUEUE_SIZE
    waiting) and upload limit."""
    demo = demo or build_demo(weights=weights)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    threading.Thread(target=_sweeper, args=(demo,), daemon=True, name="gifnet-demo-sweeper").start()
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_UPLOAD, footer_links=["api"],
                **kwargs)
    return demo
