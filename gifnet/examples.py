"""Example inputs for the demo (and for trying gifnet): made here, or fetched on request.

1. `make_examples(folder)` synthesises offline examples from scikit-image's bundled public-domain / CC0 photographs
   (astronaut: NASA, public domain; coffee, chelsea: CC0; rocket: SpaceX, public domain). Nothing is downloaded and
   no dataset image is involved:
     multi-focus     the photo blurred outside (near focus) or inside (far focus) a soft central disc
     multi-exposure  the photo at +2 EV (over-exposed, clipped) and -2 EV (under-exposed), in linear light
     enhancement     a low-contrast, hazy version of the photo
     remote sensing  Wald's protocol: PAN = the photo's luma at full resolution; a 3-band "multispectral" image =
                     the R, G, B bands degraded 4x (downsampled, then upsampled back to PAN's grid)
   They show what each task does; they are not benchmark data.
2. `fetch_sample(task)` downloads the authors' one public sample pair per task (github.com/AWCXV/GIFNet `images/`)
   into the gifnet cache, each file checked against its sha256 (`gifnet.hub.download`); $GIFNET_SAMPLES_URL
   replaces the base URL (a mirror, or file:// for tests). Only on request: never at import or start-up.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import GifnetError
from .hub import cache_dir, download
from .image import luma, resize, write_image
from .pipeline import gaussian_blur

log = logging.getLogger(__name__)

MAX_SIDE = 384           # examples stay small so they run in seconds on a CPU Space
SAMPLES_URL = "https://github.com/AWCXV/GIFNet/raw/main/images/"


@dataclass(frozen=True)
class Example:
    task: str            # a key of gifnet.pipeline.TASKS, or "enhance"
    title: str
    files: tuple[Path, ...]


def _photo(name: str) -> np.ndarray:
    """A scikit-image bundled photo as float RGB in [0, 1], longest side at most MAX_SIDE."""
    from skimage import data

    img = np.asarray(getattr(data, name)(), dtype=np.float32) / 255.0
    h, w = img.shape[:2]
    s = MAX_SIDE / max(h, w)
    return resize(img, (round(h * s), round(w * s))) if s < 1 else img


def _blur_rgb(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([gaussian_blur(img[..., c], sigma) for c in range(img.shape[2])], axis=-1)


def focus_pair(img: np.ndarray, sigma: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(near focus, far focus): sharp inside / outside a soft disc at the centre, blurred elsewhere."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h / 2) / h, (xx - w / 2) / w)
    inside = np.clip((0.3 - r) / 0.06 + 0.5, 0, 1)[..., None]        # 1 in the disc, a 6 %-wide soft edge
    blurred = _blur_rgb(img, sigma)
    near = inside * img + (1 - inside) * blurred
    far = inside * blurred + (1 - inside) * img
    return near.astype(np.float32), far.astype(np.float32)


def exposure_pair(img: np.ndarray, ev: float = 2.0, gamma: float = 2.2) -> tuple[np.ndarray, np.ndarray]:
    """(over-exposed, under-exposed): the photo's linear light scaled by 2**ev and 2**-ev, clipped, re-encoded."""
    linear = img ** gamma
    over = np.clip(linear * 2.0 ** ev, 0, 1) ** (1 / gamma)
    under = np.clip(linear * 2.0 ** -ev, 0, 1) ** (1 / gamma)
    return over.astype(np.float32), under.astype(np.float32)


def hazy(img: np.ndarray, contrast: float = 0.45, haze: float = 0.35) -> np.ndarray:
    """A low-contrast version: contrast * img + haze (an image for single-image enhancement)."""
    return np.clip(contrast * img + haze, 0, 1).astype(np.float32)


def wald_pair(img: np.ndarray, ratio: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(multispectral (H, W, 3) degraded by `ratio`, panchromatic (H, W)) from one RGB photo (Wald's protocol)."""
    h, w = img.shape[:2]
    low = resize(img, (max(8, h // ratio), max(8, w // ratio)))
    return resize(low, (h, w)), luma(img)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def make_examples(folder: Path) -> list[Example]:
    """Write the synthesised examples into `folder` (once; existing files are reused) and list them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specs = {
        "mfif_astronaut": ("mfif", "Multi-focus (synthesised from astronaut)", lambda: focus_pair(_photo("astronaut"))),
        "mfif_coffee": ("mfif", "Multi-focus (synthesised from coffee)", lambda: focus_pair(_photo("coffee"))),
        "meif_chelsea": ("meif", "Multi-exposure ±2 EV (synthesised from chelsea)", lambda: exposure_pair(_photo("chelsea"))),
        "meif_coffee": ("meif", "Multi-exposure ±2 EV (synthesised from coffee)", lambda: exposure_pair(_photo("coffee"))),
        "enhance_rocket": ("enhance", "Low-contrast (synthesised from rocket)", lambda: (hazy(_photo("rocket")),)),
        "enhance_chelsea": ("enhance", "Low-contrast (synthesised from chelsea)", lambda: (hazy(_photo("chelsea")),)),
        "remote_rocket": ("remote", "Pansharpening, Wald's protocol (from rocket)", lambda: wald_pair(_photo("rocket"))),
    }
    examples = []
    for stem, (task, title, make) in specs.items():
        names = ["ms.tif", "pan.png"] if task == "remote" else (["a.png", "b.png"] if task != "enhance" else ["image.png"])
        paths = tuple(folder / f"{stem}_{n}" for n in names)
        if not all(p.is_file() for p in paths):
            for img, p in zip(make(), paths):
                write_image(_u8(img), p, overwrite=True)
        examples.append(Example(task, title, paths))
    log.info("demo examples in %s", folder)
    return examples


# --------------------------------------------------------------------------------------- the authors' public samples
# task -> files (slot a first) under images/ in the authors' repository, with their sha256
SAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "ivif": (("IVIF/ir/1.jpg", "1493246378ffecef7be28842f9bfd03f220fd3094d7ce59079989f25a2416301"),
             ("IVIF/vis/1.jpg", "d57604a1a217d84447d8c4128e4e927f4c2c9677b68f7e0943ca46374f438e44")),
    "mfif": (("MFIF/ir/1.jpg", "2f9fb95461f2297388eeece514544714cf4f7f1377e4b0bb6fae2901d43dd795"),
             ("MFIF/vis/1.jpg", "d7329134ec2987840e1bd29de06383fc9dd796904d24d6d9e9d4d6dc63dfdac6")),
    "meif": (("MEIF/ir/1.jpg", "e6d4fb578308f29bf75e13e3bd04ca231e80957fc062a0b6880f695b335246ee"),
             ("MEIF/vis/1.jpg", "732eb00668b6db3f5e9fcfbd7fc721b4463b7db1a8b8c07c4d77dd620021905e")),
    "medical": (("Medical/pet/1.png", "80e249b7f91426a78426a0ac5d9a02f2b70ed2d581d879076caf4c734361ea92"),
                ("Medical/mri/1.png", "a7bd2160767d6c66587e950a42e96168226e9e00033f3c287fc19d0e2b8f25a0")),
    "nir-vis": (("NIR-VIS/nir/1.jpg", "d606745b7b9e8f51234cfafa59ec15d5e2319ac70c6159e3ac696537bd67bb84"),
                ("NIR-VIS/vis/1.jpg", "b59d53d1edc066554dc7c9ed8cc9713ee94b7b4c22ee297c3d43cda658eb9315")),
    "remote": (("Remote/MS_band1/1.tif", "58179a6f9358b3db2efe2672e91ad9cd877818019103185e9d642b44a2403c87"),
               ("Remote/PAN/1.tif", "2c5e61cca7bbd057ea44828527596d3dab05d6f5c6c443f65c763c69a30b4daa")),
    "remote-ms": (("Remote/MS/1.tif", "15d8793e7cbf618466f761667b03f342b257089df1dd88d61c0f92f13272e415"),
                  ("Remote/PAN/1.tif", "2c5e61cca7bbd057ea44828527596d3dab05d6f5c6c443f65c763c69a30b4daa")),
}


def fetch_sample(task: str) -> list[Path]:
    """The authors' sample for `task` (slot order), downloaded once into the cache and verified by sha256."""
    if task not in SAMPLES:
        raise GifnetError(f"no public sample for task {task!r}; samples exist for {', '.join(SAMPLES)}")
    base = os.environ.get("GIFNET_SAMPLES_URL", SAMPLES_URL).rstrip("/") + "/"
    return [download(base + rel, cache_dir() / "samples" / rel, sha) for rel, sha in SAMPLES[task]]

