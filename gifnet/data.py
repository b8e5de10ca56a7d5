"""Training data: paired folders, random crops, and synthetic multi-focus pairs.

A training folder holds two sub-folders of aligned images with matching file names (the extension may differ):

    DIR/ir/FLIR_00006.jpg   DIR/vis/FLIR_00006.jpg   ...

Each image is read with `gifnet.image.read_image` and reduced to its luma (the network sees one channel). When the two
images of a pair differ in size (RoadScene's visible images are ~3x larger than the infrared ones, same field of view)
the larger is resampled to the smaller's size.

Every training sample is four aligned grey crops, as in the release:

    ir, vis      a random crop of the pair (same position), optionally flipped, optionally with dark regions
                 (`DataConfig.dark`, `darken`: both crops blacked out in the same smooth random regions)
    near, far    two synthetic defocused versions of the *visible* crop (`synthesize_multifocus`); `vis` is their
                 all-in-focus ground truth; optionally both also mildly blurred and flattened everywhere
                 (`DataConfig.restore`, `degrade`), so that the ground truth is sharper than either input

Reproducibility. Sample k of the stream (k = step * batch + j) is fully determined by (seed, k): the image comes from a
per-epoch permutation seeded with (seed, epoch) and the crop, flips, mask and blur kernels from a generator seeded with
(seed, epoch, position). There is no hidden sampler state, so resuming at step s only needs s.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import GifnetError
from .files import PathLike
from .image import gaussian_kernel as image_gaussian
from .image import luma, pair_folders, read_image, resize

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------- multi-focus pairs
@dataclass
class FocusConfig:
    """How near/far-focus pairs are synthesised from a sharp image.

    The in-focus region of the near image is a random smooth blob map: Gaussian noise on a g x g grid (g drawn from
    `grid`), upsampled bicubically to the image size and thresholded so that a fraction drawn from `coverage` is in
    focus. Its boundary is softened by a Gaussian of `feather` pixels (0 = hard edge). The near image is sharp inside
    the mask and blurred outside; the far image is the complement. Each image is blurred with its own random kernel:
    a defocus disk (radius from `disk_radius`) or a Gaussian (sigma from `gaussian_sigma`), chosen with `p_disk`."""
    grid: tuple[int, int] = (2, 6)
    coverage: tuple[float, float] = (0.3, 0.7)
    feather: float = 1.5
    p_disk: float = 0.5
    disk_radius: tuple[float, float] = (1.5, 5.0)
    gaussian_sigma: tuple[float, float] = (1.0, 3.0)


@dataclass
class FocusSample:
    """One synthetic multi-focus pair: `near = mask*sharp + (1-mask)*blur_near(sharp)`,
    `far = (1-mask)*sharp + mask*blur_far(sharp)`. All `(H, W)` float32; `mask` is 1 where the near image is in focus,
    0 where the far one is, in between only along the feathered boundary."""
    sharp: np.ndarray
    near: np.ndarray
    far: np.ndarray
    mask: np.ndarray
    near_kernel: np.ndarray = field(repr=False)
    far_kernel: np.ndarray = field(repr=False)


def disk_kernel(radius: float) -> np.ndarray:
    """A normalised defocus (pillbox) kernel with an anti-aliased rim: each tap weighs the fraction of its pixel
    inside the circle (estimated on an 8x8 sub-grid)."""
    r = int(np.ceil(radius))
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    y = np.arange(-r, r + 1)[:, None, None, None] + sub[None, None, :, None]
    x = np.arange(-r, r + 1)[None, :, None, None] + sub[None, None, None, :]
    k = ((x ** 2 + y ** 2) <= radius ** 2).mean(axis=(2, 3))
    return (k / k.sum()).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 2-D Gaussian kernel truncated at 3 sigma (`gifnet.image.gaussian_kernel`, outer product)."""
    g = image_gaussian(sigma)
    return np.outer(g, g).astype(np.float32)


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D convolution of an `(H, W)` image with reflected borders (replicated when the image is too small)."""
    r = kernel.shape[0] // 2
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    mode = "reflect" if r < min(img.shape) else "replicate"
    t = F.pad(t, (r, r, r, r), mode=mode)
    return F.conv2d(t, torch.from_numpy(kernel)[None, None])[0, 0].numpy()


def random_kernel(rng: np.random.Generator, cfg: FocusConfig) -> np.ndarray:
    if rng.random() < cfg.p_disk:
        return disk_kernel(rng.uniform(*cfg.disk_radius))
    return gaussian_kernel(rng.uniform(*cfg.gaussian_sigma))


def random_focus_mask(shape: tuple[int, int], rng: np.random.Generator, cfg: FocusConfig) -> np.ndarray:
    """A smooth random in-focus map in [0, 1] (exactly 0 or 1 away from the feathered boundary)."""
    h, w = shape
    g = int(rng.integers(cfg.grid[0], cfg.grid[1] + 1))
    noise = torch.from_numpy(rng.standard_normal((g, g)).astype(np.float32))[None, None]
    field_ = F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False)[0, 0].numpy()
    cover = rng.uniform(*cfg.coverage)
    mask = (field_ > np.quantile(field_, 1 - cover)).astype(np.float32)
    if cfg.feather > 0:
        mask = convolve(mask, gaussian_kernel(cfg.feather))
        # exactly 0 or 1 away from the boundary (the Gaussian's far tail would otherwise leave 1 - 1e-7 everywhere)
        mask = np.where(mask > 0.99, 1.0, np.where(mask < 0.01, 0.0, mask)).astype(np.float32)
    return mask


def synthesize_multifocus(sharp: np.ndarray, *, rng: np.random.Generator | int | None = None,
                          config: FocusConfig | None = None) -> FocusSample:
    """Near- and far-focus versions of a sharp grey `(H, W)` image in [0, 1] (see `FocusConfig`, `FocusSample`).

    `rng` is a numpy Generator or a seed: the same seed gives the same pair. Where `mask == 1` the near image equals
    `sharp` exactly, where `mask == 0` the far image does."""
    cfg = config or FocusConfig()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    sharp = np.asarray(sharp, dtype=np.float32)
    if sharp.ndim != 2:
        raise GifnetError(f"synthesize_multifocus needs a grey (H, W) image, got shape {sharp.shape}; "
                          "use gifnet.image.luma")
    mask = random_focus_mask(sharp.shape, rng, cfg)
    k_near, k_far = random_kernel(rng, cfg), random_kernel(rng, cfg)
    near = mask * sharp + (1 - mask) * convolve(sharp, k_near)
    far = (1 - mask) * sharp + mask * convolve(sharp, k_far)
    return FocusSample(sharp, near.astype(np.float32), far.astype(np.float32), mask, k_near, k_far)


def preview_multifocus(image: PathLike | np.ndarray, *, seed: int = 0, crop: int | None = None,
                       config: FocusConfig | None = None) -> FocusSample:
    """For notebooks: read an image (path or array, colour or grey), take its luma and optionally a centre crop, and
    return the synthetic pair (`sample.mask`, `.near`, `.far`, `.sharp`) ready for `plt.imshow`."""
    pixels, _ = read_image(image)
    y = luma(pixels)
    if crop:
        check_size(y, crop, str(image) if not isinstance(image, np.ndarray) else "image")
        top, left = (y.shape[0] - crop) // 2, (y.shape[1] - crop) // 2
        y = y[top:top + crop, left:left + crop]
    return synthesize_multifocus(y, rng=seed, config=config)


# ------------------------------------------------------------------------------------------------------ paired folders
def check_size(img: np.ndarray, crop: int, name: str) -> None:
    if min(img.shape[:2]) < crop:
        raise GifnetError(f"{name}: {img.shape[1]}x{img.shape[0]} pixels is smaller than the {crop}x{crop} crop; "
                          "use a smaller --crop or remove the image")


def find_pairs(root: PathLike, *, names: tuple[str, str] = ("ir", "vis")) -> list[tuple[Path, Path]]:
    """`(ROOT/a/x.ext, ROOT/b/x.ext2)` for every file name stem x present in both sub-folders, sorted by name
    (`gifnet.image.pair_folders`, strict: a file without a partner is an error)."""
    root = Path(root)
    if not root.is_dir():
        raise GifnetError(f"{root}: training folder not found")
    for sub in names:
        if not (root / sub).is_dir():
            raise GifnetError(f"{root}: no '{sub}' sub-folder; expected {root}/{names[0]} and {root}/{names[1]} "
                              "holding pairs with matching file names")
    return pair_folders(root / names[0], root / names[1], strict=True)[0]


def load_pair(path_a: Path, path_b: Path) -> tuple[np.ndarray, np.ndarray]:
    """The luma of both images at a common size (the larger resampled to the smaller, bicubic)."""
    a, b = luma(read_image(path_a)[0]), luma(read_image(path_b)[0])
    if a.shape != b.shape:
        if a.size > b.size:
            a = resize(a, b.shape)
        else:
            b = resize(b, a.shape)
    return a, b


class PairedFolder:
    """All pairs of a training folder as grey float32 arrays of a common size, kept in memory (`cache=True`) or read
    on demand. `min_size` checks every pair up front so a too-small image fails at start-up, not hours later."""

    def __init__(self, root: PathLike, names: tuple[str, str] = ("ir", "vis"), min_size: int = 0, cache: bool = True):
        self.root, self.names = Path(root), names
        self.pairs = find_pairs(root, names=names)
        self.cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache or min_size:
            loaded = []
            for pa, pb in self.pairs:
                a, b = load_pair(pa, pb)
                check_size(a, min_size, f"{pa} (with {pb.name}, at their common size)")
                if cache:
                    loaded.append((a, b))
            self.cache = loaded if cache else None
        log.info("%s: %d pairs", self.root, len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.cache[i] if self.cache is not None else load_pair(*self.pairs[i])

    def name(self, i: int) -> str:
        return self.pairs[i][0].stem


# ------------------------------------------------------------------------------------------------- the sample stream
# Dark regions: the mask that blacks out part of both sources (`DataConfig.dark`). Large smooth blobs, soft edges.
DARK_MASK = FocusConfig(grid=(2, 4), coverage=(0.35, 0.8), feather=3.0)


@dataclass
class RestoreConfig:
    """How `degrade` spoils both multi-focus inputs of a sample (`DataConfig.restore`): one draw of each per sample."""
    blur: tuple[float, float] = (0.5, 1.5)        # Gaussian sigma in pixels, the same for both inputs
    mix: tuple[float, float] = (1.0, 1.0)         # share m of the blur in the input: (1 - m) x + m blur(x); 1: all
    contrast: tuple[float, float] = (0.7, 1.0)    # contrast kept about the sharp crop's mean, the same for both
    contrast_scale: float = 0.0                   # > 0: the contrast of the Gaussian base of this sigma (px) only, the
                                                  # finer detail kept as it is; 0: of the whole image
    noise: tuple[float, float] = (0.0, 0.0)       # std of Gaussian noise (grey levels / 255), its own per input
    grain: tuple[float, float] = (0.0, 0.0)       # sigma (px) of a blur of the noise, same std: grain; (0, 0): white
    gamma: tuple[float, float] = (1.0, 1.0)       # both inputs raised to this power (> 1 darkens); (1, 1): off
    gain: tuple[float, float] = (1.0, 1.0)        # both inputs multiplied by this (< 1 darkens); (1, 1): off
    exposure: tuple[float, float] = (0.0, 0.0)    # stops e: one input x 2**e, the other x 2**-e, clipped; (0, 0): off
    exposed: float = 1.0                          # share of the degraded samples exposed apart (when exposure is on)
    knee: tuple[float, float] = (1.0, 1.0)        # slope kept above knee_level: the highlights compressed, shadows and
                                                  # mid-tones as they are; (1, 1): off
    knee_level: float = 0.5                       # where the knee starts (grey levels / 255)
    edges: float = 0.0                            # local gradient (grey levels / 255 per px) where half the blur is
                                                  # applied, less in flatter regions (`edge_share`); 0: alike everywhere


@dataclass
class DataConfig:
    crop: int = 128
    flips: bool = True            # random horizontal and vertical flips (the release used none)
    multifocus: FocusConfig = field(default_factory=FocusConfig)
    dark: float = 0.0             # probability of blacking out smooth random regions of both crops (see `darken`)
    restore: float = 0.0          # probability of degrading both multi-focus inputs everywhere (see `degrade`)
    degradation: RestoreConfig = field(default_factory=RestoreConfig)   # how, when `restore` draws it


def darken(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Both crops times one smooth random mask (`DARK_MASK`: 35-80 % kept, exactly 0 elsewhere, soft edges): regions
    black in both sources, as the backgrounds of medical scans and of night scenes are. RoadScene has no pixel that is
    dark in both of its sources, and a network trained on it alone renders black backgrounds mid-grey."""
    mask = random_focus_mask(a.shape, rng, DARK_MASK)
    return (a * mask).astype(np.float32), (b * mask).astype(np.float32)


def noise_field(shape: tuple[int, int], rng: np.random.Generator, kernel: np.ndarray | None = None) -> np.ndarray:
    """Standard normal noise of `shape`: white, or blurred by `kernel` and rescaled to unit std per pixel."""
    z = rng.standard_normal(shape)
    if kernel is None:
        return z
    return convolve(z, kernel) / float(np.sqrt((kernel.astype(np.float64) ** 2).sum()))


def edge_share(sharp: np.ndarray, half: float) -> np.ndarray:
    """Per pixel, the share d / (d + half) of the blur that `degrade` applies with `RestoreConfig.edges = half`: d is
    the sharp crop's gradient magnitude (central differences, grey levels / 255 per pixel) averaged by a Gaussian of
    2 pixels, so the share is near 1 along edges and falls towards 0 in flat regions (half of it where d = half)."""
    gy, gx = np.gradient(sharp.astype(np.float32))
    d = convolve(np.hypot(gx, gy), gaussian_kernel(2.0))
    return (d / (d + half)).astype(np.float32)


def degrade(near: np.ndarray, far: np.ndarray, sharp: np.ndarray, rng: np.random.Generator,
            config: RestoreConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Both multi-focus inputs blurred by one Gaussian (or mixed with their blur: a partial blur) and their contrast
    about the sharp crop's mean scaled by one factor, optionally exposed apart (`x * 2**e` and `x * 2**-e`, clipped; in
    a share `exposed` of them), darkened by one gain (`x * s`), one gamma (`x ** g`) and one knee, then optionally noisy
    (independent noise per input, one std; white, or grainy: blurred, of the same std), with the ranges of `config`. The
    ground truth stays the sharp crop, so the MFIF step learns to restore detail and contrast that neither input has:
    the enhancement the authors' checkpoint applies (given one sharp image in both slots it doubles the spatial
    frequency and raises the contrast by a quarter), which the release's objective alone, a copy of the sharp regions,
    does not teach. A partial blur (mix below 1) bounds the gain the inverse needs (1 / (1 - m) at most, at every
    frequency the blur removes): the finest texture is not amplified far more than edges, as it is to undo a full
    Gaussian blur. With `edges` the share of the blur follows the local detail (`edge_share`): edges are blurred,
    flat regions hardly, meant to teach the network to sharpen edges and leave faint texture as it is, as the authors'
    checkpoint does; with `contrast_scale` only the base of the image (its Gaussian blur of that sigma) is flattened,
    so restoring the contrast stretches large structures and not fine texture (neither lowered the sharpening of flat
    regions much: BENCHMARKS.md, "Why a partial blur", e25-e27). Noise makes restoring mean denoising too, so that
    sensor noise is not sharpened; grain (noise blurred over a pixel or two, as sensor noise after demosaicing and
    compression is) so that faint texture in flat regions is not sharpened either. A gamma above 1 makes restoring
    mean brightening: the authors' checkpoint renders mid-tones and dark regions brighter than either source
    (BENCHMARKS.md, "Why brightness"). Undoing a gamma also compresses the highlights; undoing a gain below 1 brightens
    and stretches the contrast alike at every level; undoing a knee (`x` above `knee_level` compressed to
    `level + k (x - level)`) brightens the highlights alone, the authors' tone curve on real pairs (BENCHMARKS.md, "Why
    the tone curve"), where undoing the contrast flattening darkens the shadows. An exposure difference (one input
    brighter and clipped, the other darker) makes restoring mean multi-exposure fusion: highlights from the darker
    input, shadows from the brighter, at the sharp crop's exposure; without it the multi-focus step never sees two
    inputs of different brightness."""
    cfg = config or RestoreConfig()
    k = gaussian_kernel(rng.uniform(*cfg.blur))
    keep, mean = rng.uniform(*cfg.contrast), float(sharp.mean())
    blurred = [convolve(x, k) for x in (near, far)]
    if cfg.mix != (1.0, 1.0):                      # a partial blur; no draw when off
        m = rng.uniform(*cfg.mix)
        blurred = [(1 - m) * x + m * b for x, b in zip((near, far), blurred)]
    if cfg.edges > 0:                              # the blur where the sharp crop has detail; no draw
        w = edge_share(sharp, cfg.edges)
        blurred = [(1 - w) * x + w * b for x, b in zip((near, far), blurred)]
    if cfg.contrast_scale > 0:                     # flatten the large structures only; no draw
        bases = [convolve(b, gaussian_kernel(cfg.contrast_scale)) for b in blurred]
        out = [mean + keep * (lo - mean) + (b - lo) for b, lo in zip(blurred, bases)]
    else:
        out = [mean + keep * (b - mean) for b in blurred]
    if cfg.exposure != (0.0, 0.0) and (cfg.exposed >= 1 or rng.random() < cfg.exposed):  # no draw when off or 1
        stops = rng.uniform(*cfg.exposure) * (1 if rng.random() < 0.5 else -1)
        out = [np.clip(out[0] * 2.0 ** stops, 0, 1), np.clip(out[1] * 2.0 ** -stops, 0, 1)]
    if cfg.gain != (1.0, 1.0):                     # no draw when off, as for gamma and noise
        scale = rng.uniform(*cfg.gain)
        out = [x * scale for x in out]
    if cfg.gamma != (1.0, 1.0):                    # no draw when off, as for noise
        g = rng.uniform(*cfg.gamma)
        out = [np.clip(x, 0, 1) ** g for x in out]
    if cfg.knee != (1.0, 1.0):                     # no draw when off
        k, t = rng.uniform(*cfg.knee), cfg.knee_level
        out = [np.minimum(x, t) + k * np.maximum(x - t, 0) for x in out]
    if cfg.noise[1] > 0:                           # no draw when off: streams stay as they were
        std = rng.uniform(*cfg.noise)
        grain = gaussian_kernel(rng.uniform(*cfg.grain)) if cfg.grain[1] > 0 else None   # no draw when white
        out = [x + std * noise_field(x.shape, rng, grain) for x in out]
    return tuple(x.astype(np.float32) for x in out)


class TrainingStream:
    """The deterministic stream of training samples drawn from a `PairedFolder` (see the module docstring)."""

    def __init__(self, folder: PairedFolder, config: DataConfig | None = None, seed: int = 0):
        self.folder, self.cfg, self.seed = folder, config or DataConfig(), seed

    def sample(self, k: int) -> dict[str, np.ndarray]:
        """Sample number k: `ir, vis, near, far` crops, `(crop, crop)` each, plus the focus `mask`."""
        n = len(self.folder)
        epoch, pos = divmod(k, n)
        index = int(np.random.default_rng([self.seed, epoch]).permutation(n)[pos])
        rng = np.random.default_rng([self.seed, epoch, pos])
        a, b = self.folder[index]
        c = self.cfg.crop
        check_size(a, c, f"{self.folder.pairs[index][0]}")
        top, left = int(rng.integers(0, a.shape[0] - c + 1)), int(rng.integers(0, a.shape[1] - c + 1))
        a, b = a[top:top + c, left:left + c], b[top:top + c, left:left + c]
        if self.cfg.flips:
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            if rng.random() < 0.5:
                a, b = a[::-1], b[::-1]
        if self.cfg.dark and rng.random() < self.cfg.dark:    # no draw at all when off: streams stay as they were
            a, b = darken(np.ascontiguousarray(a), np.ascontiguousarray(b), rng)
        focus = synthesize_multifocus(np.ascontiguousarray(b), rng=rng, config=self.cfg.multifocus)
        near, far = focus.near, focus.far
        if self.cfg.restore and rng.random() < self.cfg.restore:  # no draw when off, as for dark
            near, far = degrade(near, far, focus.sharp, rng, self.cfg.degradation)
        return {"ir": np.ascontiguousarray(a), "vis": focus.sharp, "near": near, "far": far, "mask": focus.mask}

    def batch(self, start: int, size: int) -> dict[str, torch.Tensor]:
        """Samples start .. start+size-1 stacked as `(size, 1, crop, crop)` tensors."""
        samples = [self.sample(k) for k in range(start, start + size)]
        return {key: torch.from_numpy(np.stack([s[key] for s in samples]))[:, None] for key in samples[0]}
