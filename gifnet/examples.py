"""Offline example inputs for the demo, made here (the authors' real samples are `gifnet.samples`, fetched on request).

`make_examples(folder)` synthesises them from scikit-image's bundled public-domain / CC0 photographs (astronaut:
NASA, public domain; coffee, chelsea: CC0; rocket: SpaceX, public domain). Nothing is downloaded and no dataset image
is involved:
    infrared-visible  smoke: the visible image is the photo behind synthetic smoke; the "infrared" image is the
                    photo's brightness, slightly blurred and without the smoke (thermal cameras see through smoke, at
                    a lower resolution). Not a real thermal image: real pairs are the authors' sample
                    (gifnet.samples) or the TNO Image Fusion Dataset (A. Toet, on figshare)
    multi-focus     the photo blurred outside (near focus) or inside (far focus) a soft central disc
    multi-exposure  the photo at +2 EV (over-exposed, clipped) and -2 EV (under-exposed), in linear light
    enhancement     a low-contrast, hazy version of the photo
    remote sensing  Wald's protocol: PAN = the photo's luma at full resolution; a 3-band "multispectral" image =
                    the R, G, B bands degraded 4x (downsampled, then upsampled back to PAN's grid)
They show what each task does; they are not benchmark data.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .image import gaussian_blur, luma, resize, write_image

log = logging.getLogger(__name__)

MAX_SIDE = 384           # examples stay small so they run in seconds on a CPU Space


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


def smoke_pair(img: np.ndarray, density: float = 0.9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(infrared-like, visible): the visible photo behind a smooth random smoke plume (up to `density` opaque, light
    grey), and its brightness blurred by 1.5 px without the smoke, as a stand-in for a thermal image."""
    h, w = img.shape[:2]
    noise = np.random.default_rng(seed).random((h, w)).astype(np.float32)
    field = gaussian_blur(noise, max(h, w) / 12)
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    smoke = (density * np.clip((field - 0.25) / 0.25, 0, 1))[..., None]    # a plume over most of the frame
    visible = (1 - smoke) * img + smoke * 0.78
    infrared = gaussian_blur(luma(img), 1.5)
    return np.clip(infrared, 0, 1).astype(np.float32), np.clip(visible, 0, 1).astype(np.float32)


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
    specs = {  # file stem -> (task, title, maker)
        "ivif_astronaut": ("ivif", "Infrared-visible: through smoke (synthesised from astronaut)",
                           lambda: smoke_pair(_photo("astronaut"))),
        "mfif_astronaut": ("mfif", "Multi-focus (synthesised from astronaut)", lambda: focus_pair(_photo("astronaut"))),
        "mfif_coffee": ("mfif", "Multi-focus (synthesised from coffee)", lambda: focus_pair(_photo("coffee"))),
        "meif_chelsea": ("meif", "Multi-exposure ±2 EV (from chelsea)", lambda: exposure_pair(_photo("chelsea"))),
        "meif_coffee": ("meif", "Multi-exposure ±2 EV (from coffee)", lambda: exposure_pair(_photo("coffee"))),
        "enhance_rocket": ("enhance", "Low-contrast (from rocket)", lambda: (hazy(_photo("rocket")),)),
        "enhance_chelsea": ("enhance", "Low-contrast (from chelsea)", lambda: (hazy(_photo("chelsea")),)),
        "remote_rocket": ("remote", "Pansharpening (Wald's protocol, rocket)", lambda: wald_pair(_photo("rocket"))),
    }
    names = {"remote": ["ms.tif", "pan.png"], "enhance": ["image.png"]}
    examples = []
    for stem, (task, title, make) in specs.items():
        paths = tuple(folder / f"{stem}_{n}" for n in names.get(task, ["a.png", "b.png"]))
        if not all(p.is_file() for p in paths):
            for img, p in zip(make(), paths, strict=True):
                write_image(_u8(img), p, overwrite=True)
        examples.append(Example(task, title, paths))
    log.info("demo examples in %s", folder)
    return examples
