"""The one image reader, the one image writer and the one colour path, shared by the pipeline, CLI, demo and notebooks.

Pixels inside gifnet are float32 arrays in [0, 1]: `(H, W)` grey or `(H, W, 3)` RGB (multi-band `(H, W, B)` only for
remote sensing). `read_image` also reports the source bit depth (8, 16, or 32 for float) so results can be written back
at the input's precision: 16-bit inputs are scaled by 1/65535 and never pass through 8 bits.

Colour follows the release's YCbCr (BT.601, full range) with zero-centred chroma:
    Y  =  0.299 R + 0.587 G + 0.114 B
    Cb = -0.169 R - 0.331 G + 0.5   B
    Cr =  0.5   R - 0.419 G - 0.081 B
    R = Y + 1.402 Cr,  G = Y - 0.344136 Cb - 0.714136 Cr,  B = Y + 1.772 Cb
Unlike the release we keep Y in float (the release truncates it to uint8, a bias of -0.5 grey levels on average and a
loss of all 16-bit precision).

Decompression bombs (a small file that claims a huge image) are refused before any pixel is decoded: the reader reads
the header, and refuses a file whose pixels as float32 (width x height x channels x 4 bytes) would exceed
`max_image_bytes()`, the memory budget of one fusion (`gifnet.pipeline.memory_budget`), or whose pixel count exceeds
Pillow's bomb threshold (`Image.MAX_IMAGE_PIXELS`; Pillow's DecompressionBombWarning is made an error).
"""
from __future__ import annotations

import logging
import math
import os
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import GifnetError
from .files import PathLike, atomic_write

log = logging.getLogger(__name__)

ImageLike = PathLike | Image.Image | np.ndarray
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pnm"}
Image.MAX_IMAGE_PIXELS = 400_000_000  # beyond this we refuse instead of risking a decompression bomb
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)   # Pillow only warns up to twice that


def describe(src: ImageLike) -> str:
    """A short name for `src` to put in error messages."""
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, np.ndarray):
        return f"array{tuple(src.shape)}"
    return f"PIL image {getattr(src, 'size', '')}"


# ----------------------------------------------------------------------------------------------------------- reading
def max_image_bytes() -> int:
    """The most memory one image read from a file may take as float32 pixels: the memory budget of one fusion
    (`gifnet.pipeline.memory_budget`: half the available memory, at most `pipeline.MAX_WORKING_MEMORY`, 1 GB)."""
    from .pipeline import memory_budget  # here, not at the top: gifnet.pipeline imports this module

    return int(memory_budget())


def check_size(name: str, width: int, height: int, channels: int, *, limit: int | None = None,
               sample_bytes: int = 4) -> None:
    """Refuse (GifnetError) an image whose header claims more than `limit` bytes of float32 pixels (default
    `max_image_bytes()`; `sample_bytes` > 4 for float64 files, decoded at that size first) or more pixels than
    Pillow's bomb threshold. Called before anything is decoded."""
    limit = max_image_bytes() if limit is None else limit
    need = width * height * channels * sample_bytes
    if need > limit or width * height > Image.MAX_IMAGE_PIXELS:
        raise GifnetError(f"{name}: claims {width}x{height} pixels x {channels} channel(s), {_size(need)} as float "
                          f"pixels; the limit here is {_size(limit)} (or {Image.MAX_IMAGE_PIXELS:,} pixels), so it was "
                          "not decoded; downscale or crop it first (or it is a decompression bomb)")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def read_image(src: ImageLike, *, allow_bands: bool = False, max_bytes: int | None = None) -> tuple[np.ndarray, int]:
    """Read a path, PIL image or numpy array into float32 pixels in [0, 1] and the source bit depth.

    Accepts uint8, uint16, bool and float arrays (floats must already lie in [0, 1]); grey `(H, W)`, `(H, W, 1)`, RGB and
    RGBA (alpha is dropped). `allow_bands=True` also accepts `(H, W, B)` multi-band images (TIFF). Files and PIL images
    whose pixels would take more than `max_bytes` as float32 (default `max_image_bytes()`) are refused from their
    header, before decoding (see `check_size`). Every failure raises `GifnetError` naming the input.
    """
    name = describe(src)
    if isinstance(src, (str, os.PathLike)):
        arr = _read_file(Path(src), max_bytes)
    elif isinstance(src, Image.Image):
        check_size(name, *src.size, _channels(src), limit=max_bytes)
        arr = _pil_to_array(src, name)
    elif isinstance(src, np.ndarray):
        arr = src
    else:
        raise GifnetError(f"{name}: expected a file path, a PIL image or a numpy array, got {type(src).__name__}")
    return _normalise(arr, name, allow_bands)


def _read_file(path: Path, max_bytes: int | None) -> np.ndarray:
    if not path.exists():
        raise GifnetError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise GifnetError(f"{path}: is a folder, expected an image file")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path, max_bytes)
    try:
        with Image.open(path) as im:                     # reads the header only
            check_size(str(path), *im.size, _channels(im), limit=max_bytes)
            if _is_16bit_colour_png(path):
                log.warning("%s: 16-bit colour PNG is read at 8 bits by Pillow; save it as TIFF to keep 16 bits", path)
            ImageOps.exif_transpose(im, in_place=True)     # rotates only when EXIF says so (no copy otherwise)
            return _pil_to_array(im, str(path))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:    # raised by Image.open
        claimed = "".join(re.findall(r"\((\d+) pixels\)", str(e))[:1]) or "more"
        raise GifnetError(f"{path}: claims {int(claimed) if claimed.isdigit() else claimed:,} pixels, more than "
                          f"Pillow's limit of {Image.MAX_IMAGE_PIXELS:,}, so it was not decoded; downscale or crop it "
                          "first (or it is a decompression bomb)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise GifnetError(f"{path}: not a readable image ({e}); use PNG, JPEG, TIFF or BMP") from None


def _read_tiff(path: Path, max_bytes: int | None) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError("no image in the file")
            shape, dtype = tif.series[0].shape, tif.series[0].dtype     # from the header: nothing decoded yet
            plane = sorted(sorted(range(len(shape)), key=lambda i: -shape[i])[:2])    # the two largest axes: H, W
            h, w = (shape[plane[0]], shape[plane[1]]) if len(shape) >= 2 else (1, int(np.prod(shape)))
            check_size(str(path), w, h, int(np.prod(shape)) // max(1, w * h), limit=max_bytes,
                       sample_bytes=max(4, dtype.itemsize))
            arr = tif.asarray()
    except GifnetError:
        raise
    except Exception as e:  # tifffile raises many types for broken files
        raise GifnetError(f"{path}: cannot read this TIFF ({e}); is the file complete?") from None
    if arr.ndim == 3 and arr.shape[0] < min(arr.shape[1:]) and arr.shape[0] <= 16 and arr.shape[2] > 16:
        arr = np.moveaxis(arr, 0, -1)  # planar (B, H, W) storage -> (H, W, B)
    return arr


def _channels(im: Image.Image) -> int:
    """Channels of the array `_pil_to_array` makes of `im` (palette images become RGB or RGBA)."""
    return {"P": 3, "PA": 4}.get(im.mode, len(im.getbands()))


def _is_16bit_colour_png(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _pil_to_array(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode in ("RGB", "L", "F") or mode.startswith("I;16"):
        arr = np.asarray(im)
    elif mode == "I":  # 32-bit ints: Pillow's container for 16-bit grey PNG/TIFF
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise GifnetError(f"{name}: 32-bit integer image outside 0..65535; convert it to 16 bits first")
        arr = arr.astype(np.uint16)
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        arr = np.asarray(im.convert("RGBA" if mode != "LA" else "LA"))
    elif mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        arr = np.asarray(im.convert("RGB" if mode != "1" else "L"))
    else:
        raise GifnetError(f"{name}: unsupported image mode {mode!r}; convert it to RGB or grey")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _normalise(arr: np.ndarray, name: str, allow_bands: bool) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and not allow_bands:
        arr = arr[..., : arr.shape[2] - 1]  # drop alpha (grey+alpha, RGBA)
        arr = arr[..., 0] if arr.shape[2] == 1 else arr
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
        raise GifnetError(f"{name}: looks channel-first {arr.shape}; pass an (H, W, C) array (np.moveaxis(x, 0, -1))")
    if not (arr.ndim == 2 or (arr.ndim == 3 and (arr.shape[2] == 3 or allow_bands))):
        what = "multi-band; use gifnet.fuse_multispectral for multispectral images" if arr.ndim == 3 else "not an image"
        raise GifnetError(f"{name}: shape {arr.shape} is {what}; expected (H, W) grey or (H, W, 3) RGB")
    if arr.dtype == np.uint8:
        return _scaled(arr, 255.0), 8
    if arr.dtype == np.uint16:
        return _scaled(arr, 65535.0), 16
    if arr.dtype == bool:
        return arr.astype(np.float32), 8
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise GifnetError(f"{name}: contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise GifnetError(f"{name}: float values must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                              "divide by 255 (8-bit data) or 65535 (16-bit data) first")
        return np.clip(arr, 0.0, 1.0), 32
    raise GifnetError(f"{name}: unsupported pixel type {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def _scaled(arr: np.ndarray, full_scale: float) -> np.ndarray:
    """arr / full_scale as float32, divided in place: one float copy of a large image, not two."""
    out = arr.astype(np.float32)
    return np.divide(out, full_scale, out=out)


def list_images(folder: PathLike) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GifnetError(f"{folder}: folder not found")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def pair_folders(a: PathLike, b: PathLike, *,
                 strict: bool = False) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The one way gifnet pairs two folders: images with the same file name without extension (a/1.png, b/1.jpg),
    sorted by name. Returns (pairs, files without a partner). `strict=True` (training data) refuses files without a
    partner; otherwise the caller reports them. Errors: a missing or empty folder, two files of one name in a folder,
    no name in common."""
    found = []
    for folder in (Path(a), Path(b)):
        files = list_images(folder)
        if not files:
            raise GifnetError(f"{folder}: no images in this folder (it contains no images of the formats read: .png, "
                              ".jpg, .tif, .bmp, ...)")
        by_stem: dict[str, Path] = {}
        for f in files:
            if f.stem in by_stem:
                raise GifnetError(f"{folder}: two files named {f.stem!r} ({by_stem[f.stem].name}, {f.name}); keep one")
            by_stem[f.stem] = f
        found.append(by_stem)
    in_a, in_b = found
    lonely = sorted(set(in_a) ^ set(in_b))
    if lonely and strict:
        where = [f"{(Path(a) if s in in_a else Path(b)).name}/{(in_a.get(s) or in_b[s]).name}" for s in lonely[:3]]
        raise GifnetError(f"{Path(a).parent}: {len(lonely)} image(s) without a partner of the same name in the other "
                          f"folder (e.g. {', '.join(where)}); add or remove them")
    pairs = [(in_a[s], in_b[s]) for s in sorted(in_a.keys() & in_b.keys())]
    if not pairs:
        raise GifnetError(f"no file names in common between {a} and {b}; pairs must share a name (a/1.png, b/1.jpg)")
    return pairs, sorted(in_a.get(s) or in_b[s] for s in lonely)


# ------------------------------------------------------------------------------------------------------------ colour
def rgb_to_ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(H, W, 3)` RGB in [0, 1] -> Y in [0, 1] and zero-centred Cb, Cr in [-0.5, 0.5]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.169 * r - 0.331 * g + 0.5 * b
    cr = 0.5 * r - 0.419 * g - 0.081 * b
    return np.clip(y, 0, 1).astype(np.float32), cb.astype(np.float32), cr.astype(np.float32)


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_ycbcr`, clipped to [0, 1]; returns `(H, W, 3)` float32."""
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1).astype(np.float32)


def luma(pixels: np.ndarray) -> np.ndarray:
    """The channel the network sees: Y of an RGB image, or the grey image itself."""
    return pixels if pixels.ndim == 2 else rgb_to_ycbcr(pixels)[0]


def fuse_chroma(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Per-pixel mean of two zero-centred chroma planes weighted by their magnitudes |c1|, |c2|.

    The more saturated source wins. The release weights by |C - 128| on chroma that is already zero-centred, which
    favours the *less* saturated source for most colours; we use |C| (where both are 0 the result is 0, i.e. grey).
    """
    w1, w2 = np.abs(c1), np.abs(c2)
    total = w1 + w2
    out = np.where(total > 0, (w1 * c1 + w2 * c2) / np.where(total > 0, total, 1), 0.0)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------------------- writing
def to_dtype(pixels: np.ndarray, bits: int) -> np.ndarray:
    """Float [0, 1] pixels -> uint8 (bits=8), uint16 (bits=16) or float32 (bits=32), rounding to nearest."""
    pixels = np.clip(pixels, 0, 1)
    if bits == 8:
        return np.round(pixels * 255).astype(np.uint8)
    if bits == 16:
        return np.round(pixels * 65535).astype(np.uint16)
    return pixels.astype(np.float32)


# ------------------------------------------------------------------------------------------------------- filtering
def gaussian_kernel(sigma: float, *, size: int | None = None) -> np.ndarray:
    """The one Gaussian of gifnet: `size` float64 taps of exp(-x^2 / 2 sigma^2) centred on the middle tap, normalised
    to sum 1 (default size: 2 ceil(3 sigma) + 1, at least 3). Two-dimensional kernels are its outer product with
    itself (separable); the SSIM windows, the multi-focus blur and `gaussian_blur` all use it."""
    if size is None:
        size = 2 * max(1, math.ceil(3 * sigma)) + 1
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (`gaussian_kernel`) of an (H, W) float plane, reflected borders (the kernel is cut to
    what a plane smaller than it can mirror)."""
    import torch

    k = torch.from_numpy(gaussian_kernel(sigma).astype(np.float32))
    r = k.numel() // 2
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
    r_h, r_w = min(r, x.shape[0] - 1), min(r, x.shape[1] - 1)
    t = torch.nn.functional.pad(t, (r_w, r_w, r_h, r_h), mode="reflect")
    t = torch.nn.functional.conv2d(t, k[r - r_h:r + r_h + 1].view(1, 1, -1, 1))
    t = torch.nn.functional.conv2d(t, k[r - r_w:r + r_w + 1].view(1, 1, 1, -1))
    return t[0, 0].numpy()


def resize(pixels: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resample float pixels to `(H, W)` with bicubic interpolation (used only when the user asks for it)."""
    h, w = size_hw
    planes = pixels[..., None] if pixels.ndim == 2 else pixels
    out = [np.asarray(Image.fromarray(planes[..., c]).resize((w, h), Image.BICUBIC)) for c in range(planes.shape[2])]
    out = np.clip(np.stack(out, axis=-1), 0, 1).astype(np.float32)
    return out[..., 0] if pixels.ndim == 2 else out


def write_image(pixels: np.ndarray, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write a uint8/uint16/float32 image atomically (temp file + rename: no partial file on failure).

    PNG keeps 8 or 16 bits (grey or RGB); TIFF keeps any depth and any number of bands; JPEG/BMP/WebP are 8-bit.
    Refuses to replace an existing file unless `overwrite=True`. Written by `gifnet.files.atomic_write`: permissions
    as a plain `open()` gives under the umask, no partial or stray file after any exception or signal.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_SUFFIXES - {".gif", ".pgm", ".ppm", ".pnm"}:
        raise GifnetError(f"{path}: unknown output format {ext!r}; use .png, .tif, .jpg, .bmp or .webp")
    if path.exists() and not overwrite:
        raise GifnetError(f"{path}: already exists; choose another name or pass --overwrite")
    if not path.parent.is_dir():
        raise GifnetError(f"{path.parent}: output folder does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise GifnetError(f"{path.parent}: output folder is not writable; choose another output path")
    if pixels.dtype == np.float32 and ext != ".tif" and ext != ".tiff":
        pixels = to_dtype(pixels, 16 if ext == ".png" else 8)
    if pixels.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        log.warning("%s: %s stores 8 bits; writing an 8-bit image (use .png or .tif to keep 16 bits)", path, ext)
        pixels = np.round(pixels / 257.0).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] not in (3,) and ext not in (".tif", ".tiff"):
        raise GifnetError(f"{path}: {pixels.shape[2]} bands can only be written as TIFF; use a .tif name")

    def write(tmp: Path) -> None:
        if ext in (".tif", ".tiff"):
            import tifffile

            photometric = "rgb" if pixels.ndim == 3 and pixels.shape[2] == 3 else "minisblack"
            tifffile.imwrite(tmp, pixels, photometric=photometric,
                             planarconfig="contig" if pixels.ndim == 3 else None)
        elif pixels.dtype == np.uint16 and pixels.ndim == 3:
            _write_png16_rgb(pixels, str(tmp))
        elif pixels.dtype == np.uint16:
            Image.fromarray(pixels).save(tmp, format="PNG")  # uint16 grey -> mode I;16
        else:
            Image.fromarray(pixels).save(tmp, format=Image.registered_extensions()[ext], **_save_options(ext))

    return atomic_write(path, write, overwrite=overwrite)


def _save_options(ext: str) -> dict:
    return {"quality": 95} if ext in (".jpg", ".jpeg", ".webp") else {}


def _write_png16_rgb(pixels: np.ndarray, path: str) -> None:
    """Minimal 16-bit RGB PNG encoder (Pillow cannot write 48-bit PNG): filter type 0 on every row, zlib level 6."""
    h, w, _ = pixels.shape
    rows = pixels.astype(">u2").reshape(h, w * 6 // 2).view(np.uint8).reshape(h, w * 6)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
