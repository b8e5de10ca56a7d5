"""Fusion-quality metrics: 20 numbers that say how good a fused image F is, given its two sources A and B.

    from gifnet.metrics import measure
    scores = measure("fused.png", "ir.png", "vis.jpg")            # {'en': 6.89, 'sd': 39.4, ...}
    scores = measure(fused, a, b, metrics=["qabf", "ssim"])      # arrays work too

Conventions (the same for every metric unless its docstring says otherwise)
- Pixels are on the 0..255 scale of 8-bit images, as in the VIFB benchmark's MATLAB code. 16-bit and float inputs
  are scaled to 0..255 without quantisation (unless every value already sits on an 8-bit level, within 1e-3, as
  float copies of 8-bit images do; those are snapped to it); histogram metrics use 256 grey-level bins.
- Colour (conventions "vifb" and "paper"): a colour fused image is scored per RGB channel and the channel scores
  are averaged. A grey source is used for every channel; a colour source is used channel by channel. A grey fused
  image with a colour source is scored against the source's luma Y (`gifnet.image.luma`); so is a colour fused image
  whose sources are both grey (VIFB takes the fused image's first channel there; identical when the fused image is
  grey stored as RGB). One exception: FMI scores the luma of colour images by default (see `fmi`).
- The default `convention="vifb"` reproduces the VIFB benchmark's published values (Zhang et al., "VIFB: a visible
  and infrared image fusion benchmark", CVPRW 2020) including its quirks; each quirk is named in the metric's
  docstring, and `convention="paper"` gives the definition most fusion papers use instead. Metrics that VIFB does
  not report follow the common paper definition; their `convention` (if any) only mirrors VIFB's sum-over-sources
  style. `tests/test_metrics.py` checks the 13 VIFB metrics against the benchmark's own values.
- `convention="tang2022"` reproduces Linfeng Tang's MATLAB toolbox (github.com/Linfeng-Tang/Image-Fusion, folder
  `General Evaluation Metric/`) as of 2022, the version that wrote its published `Metric_TNO.xlsx`, where the tables
  of most infrared-visible papers of 2022-2026 come from: its quirks included, each named in the metric's docstring
  ("the published numbers, not the textbook value"). `convention="tang"` is what the toolbox's current code computes
  (its 2023-03-03 changes reach SD, VIF, SF and Qabf; the other metrics equal "tang2022"). Both score one grey plane
  per image, made as the toolbox makes it: 8-bit levels (other depths are rounded to 8 bits, as `im2uint8` does) and
  colour through MATLAB's `rgb2gray` (0.2989 R + 0.5870 G + 0.1140 B, rounded to a level). The toolbox's 11 metrics
  are EN, SD, SF, AG, MI, VIF, Qabf, CC, SCD, PSNR and MSE (`TANG_NAMES`); the 9 others, which its table does not
  report, give their "paper" value on that grey plane. `tests/test_metrics.py` checks "tang2022" against the
  toolbox's own values (`benchmarks/metrics_vs_tang.py`, BENCHMARKS.md).
- Degenerate inputs (constant or black images) never give NaN or inf: each docstring names the value returned.

Every metric function takes `(fused, a, b)` (paths, PIL images or arrays as accepted by `gifnet.image.read_image`,
or a `Prepared` from `prepare(fused, a, b)` in the first slot to share the decoding) and `convention=` (default
"vifb"), and returns a float.
`METRICS` maps each name to `(function, higher_is_better)`.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
from einops import rearrange

from .errors import GifnetError
from .image import ImageLike, describe, gaussian_kernel, luma, read_image

log = logging.getLogger(__name__)

CONVENTIONS = {
    "vifb": "the VIFB benchmark's MATLAB code",
    "paper": "the definitions most fusion papers state",
    "tang": "Linfeng Tang's MATLAB toolbox, current code",
    "tang2022": "Linfeng Tang's MATLAB toolbox as of 2022, its published Metric_TNO.xlsx",
}
TANG = ("tang", "tang2022")


# ---------------------------------------------------------------------------------------------------------- inputs
@dataclass
class Prepared:
    """The three images of one evaluation as float64 `(C, H, W)` arrays on the 0..255 scale.

    `a` and `b` have as many channels as `f` (grey sources repeated). Build with `prepare(fused, a, b)`.
    """
    f: np.ndarray
    a: np.ndarray
    b: np.ndarray
    names: tuple[str, str, str] = ("fused", "a", "b")
    cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Integer grey levels 0..255 (int64) for the histogram metrics."""
        return tuple(np.clip(np.floor(x + 0.5), 0, 255).astype(np.int64) for x in (self.f, self.a, self.b))

    @property
    def shape(self) -> tuple[int, int]:
        return self.f.shape[1], self.f.shape[2]


def prepare(fused: ImageLike | Prepared, a: ImageLike | None = None,
            b: ImageLike | None = None) -> Prepared:
    """Read and align the fused image and its two sources once, for any number of metrics (see module doc)."""
    if isinstance(fused, Prepared):
        return fused
    if a is None or b is None:
        raise GifnetError("metrics need the fused image and both sources: metric(fused, a, b)")
    names = (describe(fused), describe(a), describe(b))
    (pf, bf), (pa, ba), (pb, bb) = (read_image(x) for x in (fused, a, b))
    for name, p in zip(names[1:], (pa, pb)):
        if p.shape[:2] != pf.shape[:2]:
            raise GifnetError(f"{name} is {p.shape[1]}x{p.shape[0]} but the fused image {names[0]} is "
                              f"{pf.shape[1]}x{pf.shape[0]}; metrics compare pixels, so fuse at the sources' size")
    h, w = pf.shape[:2]
    if min(h, w) < 16:
        raise GifnetError(f"{names[0]} is {w}x{h}; fusion metrics need images of at least 16x16 pixels")
    colour = pf.ndim == 3 and (pa.ndim == 3 or pb.ndim == 3)

    def planes(x: np.ndarray, bits: int) -> np.ndarray:
        if x.ndim == 3 and not colour:
            x, bits = luma(x), 32  # Y of 8-bit RGB is no longer on 8-bit levels
        x = x.astype(np.float64) * 255.0
        snapped = np.round(x)
        if bits == 8 or np.abs(x - snapped).max() < 1e-3:
            x = snapped  # float32 v/255 * 255 is not always exactly v: put 8-bit data back on its levels
        if x.ndim == 2:
            return np.repeat(x[None], 3 if colour else 1, axis=0)
        return rearrange(x, "h w c -> c h w")

    return Prepared(planes(pf, bf), planes(pa, ba), planes(pb, bb), names, cache={"decoded": (pf, pa, pb)})


def _check(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise GifnetError(f"unknown metric convention {convention!r}; use one of "
                          + ", ".join(f"'{c}' ({d})" for c, d in CONVENTIONS.items()))
    return convention


# MATLAB's rgb2gray weights: the first row of the inverse of the NTSC (YIQ) matrix, about (0.2989, 0.5870, 0.1140).
RGB2GRAY = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[0]


def _grey8(x: np.ndarray) -> np.ndarray:
    """One decoded image (float in [0, 1], `(H, W)` or `(H, W, 3)`) as Tang's toolbox holds it: uint8 levels
    (`im2uint8`: round(255 x)), colour converted by `rgb2gray` (weighted sum rounded to a level); `(1, H, W)`
    float64."""
    x = np.clip(np.floor(x.astype(np.float64) * 255 + 0.5), 0, 255)
    if x.ndim == 3:
        x = np.floor(x[..., 0] * RGB2GRAY[0] + x[..., 1] * RGB2GRAY[1] + x[..., 2] * RGB2GRAY[2] + 0.5)
    return x[None]


def _toolbox(p: Prepared) -> Prepared:
    """The grey planes Tang's toolbox scores (see the module doc), cached on `p` as a `Prepared` of its own."""
    if "toolbox" not in p.cache:
        decoded = p.cache.get("decoded") or tuple(   # a Prepared built by hand: its planes are all there is
            x[0] / 255 if len(x) == 1 else rearrange(x, "c h w -> h w c") / 255 for x in (p.f, p.a, p.b))
        p.cache["toolbox"] = Prepared(*(_grey8(x) for x in decoded), p.names)
    return p.cache["toolbox"]


def _view(fused, a, b, convention: str) -> Prepared:
    """The images a metric scores under `convention`: `prepare(fused, a, b)`, or its toolbox grey planes for "tang"
    and "tang2022"."""
    p = prepare(fused, a, b)
    return _toolbox(p) if _check(convention) in TANG else p


def _base(convention: str) -> str:
    """The convention a metric outside Tang's 11 follows: "paper" under "tang" and "tang2022"."""
    return "paper" if _check(convention) in TANG else convention


# ---------------------------------------------------------------------------------------------------------- helpers
def _fast_len(n: int) -> int:
    """Smallest m >= n whose only prime factors are 2, 3 and 5 (a fast FFT size)."""
    while True:
        m = n
        for prime in (2, 3, 5):
            while m % prime == 0:
                m //= prime
        if m == 1:
            return n
        n += 1


def _fft_filter(x: np.ndarray, kernels: Sequence[np.ndarray], pad: str = "zeros",
                planes: Sequence[int] | None = None) -> list[np.ndarray]:
    """2-D correlation (MATLAB `filter2`) of each plane of `(N, H, W)` with each odd-sized kernel, through the FFT.

    pad "zeros": output of the input's size, zero outside the image; "valid": only windows inside the image.
    planes[i]: filter only the first planes[i] planes with kernel i (default all). One forward transform serves all
    kernels; the result equals direct filtering to ~1e-13 relative.
    """
    h, w = x.shape[1:]
    kh = max(k.shape[0] for k in kernels)
    kw = max(k.shape[1] for k in kernels)
    if pad == "valid":   # circular wrap-around only touches rows/columns that 'valid' drops
        size = (_fast_len(h), _fast_len(w))
    else:
        size = (_fast_len(h + kh - 1), _fast_len(w + kw - 1))
    spectrum = np.fft.rfft2(x, s=size)
    out = []
    for i, k in enumerate(kernels):
        n = len(x) if planes is None else planes[i]
        y = np.fft.irfft2(spectrum[:n] * np.fft.rfft2(k[::-1, ::-1], s=size), s=size)
        kh, kw = k.shape
        if pad == "valid":
            out.append(y[:, kh - 1:h, kw - 1:w])
        else:
            out.append(y[:, kh // 2:kh // 2 + h, kw // 2:kw // 2 + w])
    return out


def _gauss2d(n: int, sigma: float, normalise: bool = True) -> np.ndarray:
    """n x n Gaussian: summing to 1 (MATLAB `fspecial`; `gifnet.image.gaussian_kernel`'s outer product), or the bare
    density exp(-r^2/2s^2)/(2 pi s^2) (Chen-Blum's reference code filters with the unnormalised density)."""
    if normalise:
        g = gaussian_kernel(sigma, size=n)
        return np.outer(g, g)
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return np.outer(g, g) / (2 * math.pi * sigma * sigma)


def _sobel(x: np.ndarray, pad: str = "zeros") -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses of each plane of `(N, H, W)`, same size, border "zeros" or "replicate".

    gx correlates with [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] (positive when brightness grows to the right), gy with
    [[1, 2, 1], [0, 0, 0], [-1, -2, -1]] (positive when it grows upwards), the kernels of the Qabf reference code.
    """
    q = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="constant" if pad == "zeros" else "edge")
    dx = q[:, :, 2:] - q[:, :, :-2]
    dy = q[:, :-2, :] - q[:, 2:, :]
    return dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:], dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]


def _sobel_cached(p: Prepared, which: str, pad: str) -> tuple[np.ndarray, np.ndarray]:
    key = ("sobel", which, pad)
    if key not in p.cache:
        p.cache[key] = _sobel(getattr(p, which), pad)
    return p.cache[key]


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each plane pair of `(C, H, W)` arrays; 0 where either plane is constant."""
    x = x.reshape(len(x), -1) - x.reshape(len(x), -1).mean(1, keepdims=True)
    y = y.reshape(len(y), -1) - y.reshape(len(y), -1).mean(1, keepdims=True)
    den = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    return np.where(den > 0, (x * y).sum(1) / np.where(den > 0, den, 1), 0.0)


def _hist(levels: np.ndarray) -> np.ndarray:
    """Per-plane 256-bin normalised histograms `(C, 256)` of integer levels `(C, H, W)`."""
    c = len(levels)
    idx = (levels.reshape(c, -1) + 256 * np.arange(c)[:, None]).ravel()
    return np.bincount(idx, minlength=256 * c).reshape(c, 256) / levels[0].size


def _joint_hist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-plane joint 256x256 histograms `(C, 256, 256)` (rows: x's level, columns: y's level)."""
    c = len(x)
    idx = (x.reshape(c, -1) * 256 + y.reshape(c, -1) + 65536 * np.arange(c)[:, None]).ravel()
    return np.bincount(idx, minlength=65536 * c).reshape(c, 256, 256) / x[0].size


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * log(y) with 0 where x == 0."""
    return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


def _freq_radius(h: int, w: int, per: float) -> np.ndarray:
    """Radial spatial frequency of each DFT coefficient in the unshifted (numpy/`fft2`) layout, rfft half.

    The grid is MATLAB's `freqspace` ((k - floor(n/2)) * 2/n for k = 0..n-1) scaled by n/`per` per axis, which is how
    the Chen-Varshney and Chen-Blum reference code converts to cycles per degree (per=8 and per=30 respectively).
    """
    def axis(n: int) -> np.ndarray:
        f = (np.arange(n) - n // 2) * (2.0 / n) * (n / per)
        return np.fft.ifftshift(f)
    u, v = axis(w)[: w // 2 + 1], axis(h)
    return np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)


def _csf_filter(x: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Filter each plane of `(N, H, W)` in the frequency domain with a real, even response (periodic borders)."""
    h, w = x.shape[1:]
    return np.fft.irfft2(np.fft.rfft2(x) * response, s=(h, w))


def _minmax_255(x: np.ndarray) -> np.ndarray:
    """Stretch each plane to 0..255 and round half away from zero (VIFB's pre-processing for Qcb and Qcv).

    Constant planes are left unchanged (the reference code divides 0 by 0 there)."""
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    out = np.floor((x - lo) / np.where(span > 0, span, 1.0) * 255 + 0.5)
    return np.where(span > 0, out, x)


# -------------------------------------------------------------------------------------- single-image metrics
def en(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """EN, entropy: -sum_l p(l) log2 p(l) over the 256-bin grey-level histogram of F, in bits.

    Range [0, 8]; higher is better (more information). Sources unused. Colour: mean of the channels' entropies.
    Constant image: 0.
    Conventions: one formula for all; "tang" and "tang2022" apply it to the toolbox's grey plane (module doc), as the
    toolbox does (MATLAB's `entropy` of the uint8 image).
    """
    p = _hist(_view(fused, a, b, convention).levels[0])
    return float(-_xlogy(p, p).sum(1).mean() / math.log(2)) + 0.0  # + 0.0 turns -0.0 into 0.0


def sd(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """SD, standard deviation of F's grey levels (VIFB calls it "Variance"): sqrt(mean((F - mean F)^2)).

    Range [0, 127.5]; higher is better (more contrast). Population form (divide by N; the N-1 form differs by
    less than 1e-5 relative on ordinary images). Colour: mean over channels. Constant image: 0.
    Conventions "vifb", "paper" and "tang" (on the toolbox's grey plane) compute this. "tang2022" reproduces the
    published numbers, not the textbook value: the toolbox's 2022 code computed on uint8 data, so each deviation
    F - mean F is rounded to an integer with negative ones clipped to 0, and each square saturates at 255:
    sqrt(sum min(round(max(F - mean F, 0))^2, 255) / (M N)). Range [0, 15.97]; e.g. 11.29 for half black, half white;
    0.12-0.47 times the true SD on the 126 TNO results of the toolbox's published table.
    """
    p = _view(fused, a, b, convention)
    if convention == "tang2022":
        f = p.f[0]
        d = f - f.mean()
        d = np.clip(np.sign(d) * np.floor(np.abs(d) + 0.5), 0, 255)    # uint8(F - u): rounded, negatives clip to 0
        return float(math.sqrt(np.minimum(d * d, 255).sum() / f.size))  # uint8 .^ 2 saturates at 255
    f = p.f
    return float(f.reshape(len(f), -1).std(1).mean())


def sf(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """SF, spatial frequency: sqrt(RF^2 + CF^2) with RF^2 = sum (F[i,j]-F[i,j-1])^2 / (M N) (horizontal neighbours)
    and CF^2 likewise over vertical neighbours; M x N pixels.

    Range [0, 255]; higher is better (more detail). Constant image: 0.
    Colour: convention "vifb" reproduces the benchmark, whose code treats an M x N x 3 array as one M x 3N image (the
    three channels side by side), so RF also counts the two seams between channels and N is 3N; "paper" averages
    the three channels' SF. Identical for grey images.
    Conventions "tang" and "tang2022" (the toolbox's grey plane) average each difference array over its own size:
    sqrt(sum (F[i,j]-F[i,j-1])^2 / (M (N-1)) + sum (F[i,j]-F[i-1,j])^2 / ((M-1) N)). "tang" on grey levels 0..255
    (the toolbox's current code); "tang2022" reproduces the published numbers: on [0, 1] data (`im2double`), i.e.
    the "tang" value / 255, range [0, 1].
    """
    p = _view(fused, a, b, convention)
    if convention in TANG:
        f = p.f[0] / (255.0 if convention == "tang2022" else 1.0)
        return float(math.sqrt(np.mean(np.diff(f, axis=1) ** 2) + np.mean(np.diff(f, axis=0) ** 2)))
    f = p.f
    if convention == "vifb":
        f = rearrange(f, "c h w -> 1 h (c w)")
    n = f[0].size
    rf = ((f[:, :, 1:] - f[:, :, :-1]) ** 2).sum((1, 2)) / n
    cf = ((f[:, 1:, :] - f[:, :-1, :]) ** 2).sum((1, 2)) / n
    return float(np.sqrt(rf + cf).mean())


def ag(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """AG, average gradient: sum over all pixels of sqrt((Gx^2 + Gy^2)/2) divided by (M-1)(N-1), where Gx, Gy are
    MATLAB `gradient` derivatives (central differences inside, one-sided differences on the border).

    Range [0, 255]; higher is better (sharper). Colour: mean over channels. Constant image: 0.
    Conventions: one formula for all; "tang" and "tang2022" apply it to the toolbox's grey plane (module doc), as the
    toolbox does (its `AG_evaluation`).
    """
    f = _view(fused, a, b, convention).f
    gy, gx = np.gradient(f, axis=(1, 2))
    h, w = f.shape[1:]
    return float((np.sqrt((gx * gx + gy * gy) / 2).sum((1, 2)) / ((h - 1) * (w - 1))).mean())


def ei(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """EI, edge intensity: mean Sobel gradient magnitude sqrt(Sx^2 + Sy^2) of F, edges replicated at the border.

    Range [0, 4*255*sqrt(2)]; higher is better. Colour: mean over channels. Constant image: 0.
    Conventions "vifb" and "paper" compute this.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the same value on its grey plane.
    """
    gx, gy = _sobel_cached(_view(fused, a, b, convention), "f", "replicate")
    return float(np.sqrt(gx * gx + gy * gy).mean((1, 2)).mean())


# ------------------------------------------------------------------------------------- information metrics
def mi(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """MI, mutual information: MI(A, F) + MI(B, F), each from the 256x256 joint grey-level histogram:
    MI(X, F) = sum p(x, f) log(p(x, f) / (p(x) p(f))).

    Range [0, 2 log 256]; higher is better. Convention "vifb": natural logarithm (nats), as the benchmark's values
    are; "paper": bits (log2), as most fusion papers report; bits = nats / ln 2. Colour: mean over channels.
    A constant fused image shares no information: 0.
    Conventions "tang" and "tang2022" (the same in both; the toolbox's grey plane) reproduce the toolbox, not the
    textbook value: bits, computed as H(X) + H(F) - H(X, F) where the joint histogram indexes `uint8 + 1`, which
    saturates, so levels 254 and 255 share one joint bin (the marginal entropies keep them apart). Where either
    image has both levels this exceeds the true MI (by up to 2 bits per source), and a constant F can score above 0.
    """
    p = _view(fused, a, b, convention)
    if convention in TANG:
        lf, la, lb = p.levels
        hf = _entropy_bits(_hist(lf))
        merged_f = np.minimum(lf, 254)
        return float(sum(_entropy_bits(_hist(ls)) + hf - _entropy_bits(_joint_hist(np.minimum(ls, 254), merged_f))
                         for ls in (la, lb)))
    lf, la, lb = p.levels
    total = 0.0
    for ls in (la, lb):
        j = _joint_hist(ls, lf)
        indep = j.sum(2, keepdims=True) * j.sum(1, keepdims=True)
        total = total + np.maximum(_xlogy(j, j / np.where(indep > 0, indep, 1)).sum((1, 2)), 0.0)  # >= 0 exactly
    scale = 1.0 if _check(convention) == "vifb" else 1 / math.log(2)
    return float(np.mean(total) * scale)


def _entropy_bits(p: np.ndarray) -> float:
    """-sum p log2 p over all cells of a (normalised) histogram."""
    return float(-_xlogy(p, p).sum() / math.log(2))


def ce(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """CE, cross entropy (relative entropy) of F's grey-level histogram from each source's, averaged:
    (CE(A, F) + CE(B, F)) / 2 with CE(X, F) = sum_l p_X(l) log2(p_X(l) / p_F(l)), in bits.

    Lower is better (F's grey-level distribution is closer to the sources'). As in the benchmark, levels absent
    from either histogram are skipped, so the value is always finite; it is >= 0 when F has every level the
    sources have, and can be slightly negative otherwise (a constant F at level l gives the sources' mean of
    p_X(l) log2 p_X(l), or 0 if neither source has level l). Colour: mean over channels.
    Conventions "vifb" and "paper" compute this.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the same value on its grey plane.
    """
    p = _view(fused, a, b, convention)
    hf, ha, hb = (_hist(x) for x in p.levels)
    total = 0.0
    for hs in (ha, hb):
        both = (hs > 0) & (hf > 0)
        total = total + np.where(both, hs * np.log2(np.where(both, hs, 1) / np.where(both, hf, 1)), 0).sum(1)
    return float(np.mean(total / 2))


def fmi(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        window: int = 3, colour: str = "luma", convention: str = "vifb") -> float:
    """FMI (pixel), feature mutual information on raw pixels, after Haghighat & Razian's Fast-FMI (2014):
    the mean over all `window` x `window` neighbourhoods of a normalised mutual information between the source's
    and the fused image's local patches, averaged over the two sources: (FMI(A, F) + FMI(B, F)) / 2.

    Per neighbourhood: each patch (raster order) minus its minimum, divided by its sum, is a probability vector p, q
    (a flat patch is uniform). Their joint distribution is modelled as |r| C + (1 - |r|) p q^T, where r is the
    Pearson correlation of the two patches and C the comonotone coupling of p and q (the upper Frechet bound of
    their cumulative sums; for r < 0 the countermonotone one). The patch score is 2 I / (H(p) + H(q)) with I the
    mutual information of that joint and H the entropies; identical patches score 1, and a pair of zero-entropy
    patches that differ scores 0. Computed in float32 (about 1e-6 relative).

    Range [0, 1]; higher is better. Colour: unlike the other metrics, scored on the luma Y of colour images by
    default (`colour="luma"`; the usual practice of fusion toolkits, and a third of the cost of this, the most
    expensive metric); `colour="channels"` averages the three channels like the rest. Not part of VIFB: no
    benchmark value pins this implementation; it is a faithful reading of the published method, but its values run
    lower than the FMI_pixel figures printed by the original MATLAB code, so compare them only with each other.
    Conventions "vifb" and "paper" compute this. Conventions "tang" and "tang2022": not one of the toolbox's 11
    metrics (its FMI_pixel is not reproduced); this value on its grey plane (`colour` then has nothing to do).
    """
    p = _view(fused, a, b, convention)
    if colour not in ("luma", "channels"):
        raise GifnetError(f"fmi: colour={colour!r}; use 'luma' or 'channels'")
    planes = [p.f, p.a, p.b]
    if colour == "luma" and len(p.f) == 3:
        planes = [luma(rearrange(x, "c h w -> h w c") / 255.0)[None].astype(np.float64) * 255 for x in planes]
    f, sa, sb = planes
    h, w = f.shape[1:]
    rows = max(1, _FMI_CHUNK // max(w - window + 1, 1))   # bound the working memory on large images
    total = 0.0
    for c in range(len(f)):
        for r0 in range(0, h - window + 1, rows):
            band = slice(r0, min(r0 + rows, h - window + 1) + window - 1)
            wf = _patches(f[c, band], window)
            side_f = _patch_stats(wf)
            for src in (sa[c, band], sb[c, band]):
                ws = _patches(src, window)
                total += _fmi_patches(_patch_stats(ws), side_f, (ws == wf).all(0)) * ws.shape[1] / 2
    return float(total / (len(f) * (h - window + 1) * (w - window + 1)))


_FMI_CHUNK = 1 << 19   # neighbourhoods per batch (about 150 MB of float32 temporaries)


def _patches(x: np.ndarray, window: int) -> np.ndarray:
    """All `window` x `window` neighbourhoods of a plane as the columns of a float32 `(window^2, n)` array (one row
    per position in the window: reductions over a patch become fast row-wise vector operations)."""
    h, w = x.shape[0] - window + 1, x.shape[1] - window + 1
    x = x.astype(np.float32)
    return np.stack([x[i:i + h, j:j + w].ravel() for i in range(window) for j in range(window)])


def _patch_stats(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per patch (column): probability vector (minus min, over sum; uniform if flat), centred values, their norm,
    entropy (nats)."""
    k = len(v)
    w = v - v.min(0)
    s = w.sum(0)
    flat = s == 0
    pmf = w / np.where(flat, 1, s)
    pmf[:, flat] = np.float32(1.0 / k)
    centred = v - v.mean(0)
    norm = np.sqrt((centred * centred).sum(0))
    norm[flat] = 0   # rounding in the mean must not give a flat patch a (random) correlation
    logs = np.log(pmf, out=np.zeros_like(pmf), where=pmf > 0)
    return pmf, centred, norm, -(pmf * logs).sum(0)


def _fmi_patches(src: tuple, fus: tuple, same: np.ndarray) -> float:
    """Mean Fast-FMI score of patch pairs (columns) given `_patch_stats` of both sides (see `fmi`)."""
    p, cs, ns, hs = src
    q, cf, nf, hf = fus
    k, n = p.shape
    den = ns * nf
    r = np.where(den > 0, (cs * cf).sum(0) / np.where(den > 0, den, 1), 0)
    q = np.where(r < 0, q[::-1], q)                 # countermonotone coupling = comonotone one with q reversed
    r = np.abs(r)
    # The comonotone coupling puts the mass of each gap between consecutive values of the merged cumulative sums
    # P, Q into one cell (i, j): i = how many P values lie below the gap, j = how many Q values. List the gap that
    # ends at each P_i (cell (i, #Q < P_i)) and at each Q_j (cell (#P <= Q_j, j)).
    cp, cq = np.cumsum(p, 0), np.cumsum(q, 0)
    n_q = np.zeros((k, n), np.int8)
    n_p = np.zeros((k, n), np.int8)
    for m in range(k):
        n_q += cq[m] < cp
        n_p += cp[m] <= cq
    # flat views with a leading row of 0: element (m, col) is the m-th cumulative value (0 for m = 0)
    col = np.arange(n)
    cp0 = np.concatenate([np.zeros((1, n), np.float32), cp]).ravel()
    cq0 = np.concatenate([np.zeros((1, n), np.float32), cq]).ravel()
    iq, ip = n_q.astype(np.intp) * n + col, n_p.astype(np.intp) * n + col
    mass = np.concatenate([cp - np.maximum(cp0[:-n].reshape(k, n), cq0[iq]),
                           cq - np.maximum(cq0[:-n].reshape(k, n), cp0[ip])])
    np.maximum(mass, 0, out=mass)
    last = (k - 1) * n + col                          # the bin holding each gap (capped at the last one)
    iq, ip = np.minimum(iq, last), np.minimum(ip, last)
    prod = np.concatenate([p * (cq0[iq + n] - cq0[iq]), q * (cp0[ip + n] - cp0[ip])])
    # I = sum over listed cells of J log(J / pq) + (1-|r|) log(1-|r|) * (product mass of all other cells); a
    # zero-mass (or repeated) cell adds exactly what it removes from the second term, so no bookkeeping is needed.
    joint = r * mass + (1 - r) * prod
    tiny = np.finfo(np.float32).tiny
    info = (joint * np.log(np.maximum(joint, tiny) / np.maximum(prod, tiny))).sum(0)
    r1 = 1 - r
    info += r1 * (1 - prod.sum(0)) * np.log(np.maximum(r1, tiny))
    den = hs + hf
    score = np.clip(np.where(den > 0, 2 * info / np.where(den > 0, den, 1), 0), 0, 1)
    score[same] = 1.0
    return float(score.mean(dtype=np.float64))


# --------------------------------------------------------------------------------------- structural metrics
SSIM_WINDOW = _gauss2d(11, 1.5)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _ssim_stats(sources: Sequence[np.ndarray], f: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Mean SSIM and mean contrast-structure term of F against each source, per plane (Wang et al.'s reference
    code: 11x11 Gaussian window sigma 1.5 over the 'valid' region, L = 255, K1 = 0.01, K2 = 0.03)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    n, k = len(f), len(sources)
    planes = np.concatenate([f, f * f, *sources, *(s * s for s in sources), *(s * f for s in sources)])
    filtered = _fft_filter(planes, [SSIM_WINDOW], pad="valid")[0]
    mf, ff = filtered[:n], filtered[n:2 * n]
    out = []
    for i in range(k):
        ms = filtered[(2 + i) * n:(3 + i) * n]
        ss = filtered[(2 + k + i) * n:(3 + k + i) * n]
        sf_ = filtered[(2 + 2 * k + i) * n:(3 + 2 * k + i) * n]
        cs = (2 * (sf_ - ms * mf) + c2) / (ss - ms * ms + ff - mf * mf + c2)
        lum = (2 * ms * mf + c1) / (ms * ms + mf * mf + c1)
        out.append(((lum * cs).mean((1, 2)), cs.mean((1, 2))))
    return out


def _ssim_scales(p: Prepared, scales: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """`_ssim_stats` for (A, B) at `scales` dyadic scales (2x2 average pooling), cached on `p`."""
    done = p.cache.setdefault("ssim", [])
    a, b, f = p.cache.get("ssim_images", (p.a, p.b, p.f))
    while len(done) < scales:
        if done:
            a, b, f = (_avg_pool2(x) for x in (a, b, f))
        per = [_ssim_stats([a[c:c + 1], b[c:c + 1]], f[c:c + 1]) for c in range(len(f))]   # channel by channel:
        done.append([tuple(np.concatenate([ch[src][i] for ch in per]) for i in range(2))    # a third of the memory
                     for src in range(2)])
        p.cache["ssim_images"] = (a, b, f)
    return done[:scales]


def _avg_pool2(x: np.ndarray) -> np.ndarray:
    """2x2 block means (an odd last row or column is dropped)."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    return rearrange(x[:, :h, :w], "c (h i) (w j) -> c h w (i j)", i=2, j=2).mean(-1)


def ssim(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
         convention: str = "vifb") -> float:
    """SSIM, structural similarity (Wang et al. 2004, as in their reference code: 11x11 Gaussian window sigma 1.5
    over the 'valid' region, L = 255, K1 = 0.01, K2 = 0.03, mean of the map), of F with each source.

    Convention "vifb": SSIM(A, F) + SSIM(B, F), range [-2, 2]; "paper": their mean, range [-1, 1]. Higher is better.
    Colour: mean over channels. Constant images are fine (the constants keep every ratio finite).
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the "paper" value on its grey plane (the
    toolbox's SSIM, `mef_ssim`, is another measure and is not reproduced).
    """
    p = _view(fused, a, b, convention)
    (sa, _), (sb, _) = _ssim_scales(p, 1)[0]
    return float(np.mean(sa + sb) / (1 if _base(convention) == "vifb" else 2))


def ms_ssim(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
            convention: str = "vifb") -> float:
    """MS-SSIM, multi-scale SSIM (Wang, Simoncelli & Bovik 2003) of F with each source: five scales with weights
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between scales, the contrast-structure term at the
    first four scales and full SSIM at the last (windows as in `ssim`); negative terms are clipped to 0 before the
    weighted product so the result stays real. Images under 176 pixels use as many scales as keep 11 pixels, with
    the weights renormalised.

    Convention "vifb": MS-SSIM(A, F) + MS-SSIM(B, F), range [0, 2] (VIFB's SSIM style; VIFB has no MS-SSIM);
    "paper": their mean, range [0, 1]. Higher is better. Colour: mean over channels.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the "paper" value on its grey plane.
    """
    p = _view(fused, a, b, convention)
    n = sum(1 for s in range(len(MS_SSIM_WEIGHTS)) if min(p.shape) // 2 ** s >= 11)
    weights = np.array(MS_SSIM_WEIGHTS[:n]) / sum(MS_SSIM_WEIGHTS[:n])
    stats = _ssim_scales(p, n)
    total = 0.0
    for src in range(2):
        value = np.ones(len(p.f))
        for s, wt in enumerate(weights):
            full, cs = stats[s][src]
            value = value * np.maximum(full if s == n - 1 else cs, 0.0) ** wt
        total = total + value
    return float(np.mean(total) / (1 if _base(convention) == "vifb" else 2))


def cc(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
       convention: str = "vifb") -> float:
    """CC, correlation coefficient: (r(A, F) + r(B, F)) / 2 with r the Pearson correlation over all pixels.

    Range [-1, 1]; higher is better. Colour: mean over channels. A constant image has no defined correlation: its
    r is taken as 0.
    Conventions: one formula for all; "tang" and "tang2022" apply it to the toolbox's grey plane (module doc), as the
    toolbox does (its `CC_evaluation` subtracts A's mean from B in r(B, F): the same value, F's deviations sum to 0).
    """
    p = _view(fused, a, b, convention)
    return float(((_corr(p.a, p.f) + _corr(p.b, p.f)) / 2).mean())


def scd(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        convention: str = "vifb") -> float:
    """SCD, sum of the correlations of differences (Aslantas & Bendes 2015): r(F - B, A) + r(F - A, B), where
    F - B approximates what F took from A (and F - A what it took from B).

    Range [-2, 2]; higher is better. Colour: mean over channels. A constant difference image (e.g. F equal to a
    source) has no defined correlation: its term is 0.
    Conventions: one formula for all; "tang" and "tang2022" apply it to the toolbox's grey plane (module doc), as the
    toolbox does (`analysis_SCD`, on [0, 1] data: correlations do not depend on the scale).
    """
    p = _view(fused, a, b, convention)
    return float((_corr(p.f - p.b, p.a) + _corr(p.f - p.a, p.b)).mean())


def _vifp(refs: Sequence[np.ndarray], dist: np.ndarray, saturate: bool = False) -> list[np.ndarray]:
    """Sheikh & Bovik's pixel-domain VIF of `dist` against each of `refs`, per plane: four scales s = 1..4 with
    Gaussian windows of 2^(5-s)+1 pixels (sigma = size/5, 'valid' filtering), each coarser scale the previous one
    filtered with that window and subsampled by 2, noise variance 2, variance floor 1e-10.
    saturate: at scale 1, the products ref*ref, dist*dist and ref*dist are capped at 255 (uint8 arithmetic; integer
    levels expected)."""
    sigma_n, eps = 2.0, 1e-10
    n, k = len(dist), len(refs)
    num = [np.zeros(n) for _ in refs]
    den = [np.zeros(n) for _ in refs]
    images = np.concatenate([*refs, dist])
    for s in range(1, 5):
        size = 2 ** (4 - s + 1) + 1
        win = _gauss2d(size, size / 5)
        if min(images.shape[1:]) < size:
            break
        planes = np.concatenate([images, images * images, images[:-n] * np.concatenate([images[-n:]] * k)])
        if saturate and s == 1:
            planes[len(images):] = np.minimum(planes[len(images):], 255)
        if s < 4:   # this scale's statistics, and the next scale's images (filtered with its window, subsampled)
            nxt = 2 ** (4 - s) + 1
            m, down = _fft_filter(planes, [win, _gauss2d(nxt, nxt / 5)], "valid", planes=[len(planes), len(images)])
        else:
            (m,) = _fft_filter(planes, [win], "valid")
        mu, sq, cross = m[:(k + 1) * n], m[(k + 1) * n:2 * (k + 1) * n], m[2 * (k + 1) * n:]
        md, s2 = mu[k * n:], np.maximum(sq[k * n:] - mu[k * n:] ** 2, 0)
        for i in range(k):
            mr = mu[i * n:(i + 1) * n]
            s1 = np.maximum(sq[i * n:(i + 1) * n] - mr * mr, 0)
            s12 = cross[i * n:(i + 1) * n] - mr * md
            gain = s12 / (s1 + eps)
            sv = s2 - gain * s12
            flat1 = s1 < eps
            gain, sv, s1 = np.where(flat1, 0, gain), np.where(flat1, s2, sv), np.where(flat1, 0, s1)
            flat2 = s2 < eps
            gain, sv = np.where(flat2, 0, gain), np.where(flat2, 0, sv)
            neg = gain < 0
            sv, gain = np.where(neg, s2, sv), np.where(neg, 0, gain)
            sv = np.maximum(sv, eps)
            num[i] += np.log10(1 + gain * gain * s1 / (sv + sigma_n)).sum((1, 2))
            den[i] += np.log10(1 + s1 / sigma_n).sum((1, 2))
        if s < 4:
            images = down[:, ::2, ::2]
    return [np.where(dn > 0, nm / np.where(dn > 0, dn, 1), 0.0) for nm, dn in zip(num, den)]


def vif(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        convention: str = "vifb") -> float:
    """VIF as used in fusion papers: VIF(A, F) + VIF(B, F), each Sheikh & Bovik's pixel-domain visual information
    fidelity (the information F preserves of the source, relative to the information in the source itself).

    Range [0, 2] for ordinary fused images (a term can exceed 1 where F has more contrast than the source); higher
    is better. Colour: mean over channels. A flat source carries no information: its term is 0.
    Conventions "vifb", "paper" and "tang" (on the toolbox's grey plane) compute this. "tang2022" reproduces the
    published numbers, not the textbook value: the toolbox's 2022 code passed uint8 images, so at the first scale
    the products A.*A, F.*F and A.*F that the local variances and covariance come from saturate at 255; the
    coarser scales, computed from filtered (double) images, are unaffected. On the 126 TNO results of the
    toolbox's published table this gives 0.91-1.87 times the true VIF (median 1.31).
    """
    p = _view(fused, a, b, convention)
    sat = convention == "tang2022"
    return float(np.mean([sum(_vifp([p.a[c:c + 1], p.b[c:c + 1]], p.f[c:c + 1], saturate=sat))
                          for c in range(len(p.f))]))


# ---------------------------------------------------------------------------------------------- error metrics
def _sq_err(p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per-plane sums of squared errors of F against A and against B."""
    return ((p.a - p.f) ** 2).sum((1, 2)), ((p.b - p.f) ** 2).sum((1, 2))


def rmse(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
         convention: str = "vifb") -> float:
    """RMSE, root-mean-square error of F against the sources, in grey levels (0..255).

    Convention "paper": (RMSE(A, F) + RMSE(B, F)) / 2 with RMSE(X, F) = sqrt(sum (X - F)^2 / (M N)).
    Convention "vifb" reproduces the benchmark, whose code divides the root of the summed squared error by the
    pixel count once more: (sqrt(sum (A-F)^2) + sqrt(sum (B-F)^2)) / (2 M N) = paper value / sqrt(M N). Its values
    therefore shrink with image size and only compare images of one size.
    Range [0, 255] (paper); lower is better. Colour: mean over channels. Identical images: 0.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the "paper" value on its grey plane.
    """
    p = _view(fused, a, b, convention)
    ea, eb = _sq_err(p)
    n = p.f[0].size
    if _base(convention) == "vifb":
        return float(((np.sqrt(ea) + np.sqrt(eb)) / (2 * n)).mean())
    return float(((np.sqrt(ea / n) + np.sqrt(eb / n)) / 2).mean())


def psnr(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
         convention: str = "vifb") -> float:
    """PSNR, peak signal-to-noise ratio in dB, peak 255.

    Convention "paper": 10 log10(255^2 / MSE) with MSE = (MSE(A, F) + MSE(B, F)) / 2.
    Convention "vifb" reproduces the benchmark: 10 log10(255^2 / R) with R its RMSE value (see `rmse`, already a
    root, and divided by the pixel count), per channel. Its values grow with image size (about 55-62 dB on VIFB).
    Higher is better. Colour: mean of the channels' PSNR. Zero error (F equal to both sources) would be infinite;
    it is replaced by the smallest error 8-bit data can show (one grey level at one pixel of one source), which
    gives 10 log10(255^2 * 2 M N) in "vifb" and "paper" (117.9 dB at 640x480).
    Conventions "tang" and "tang2022" (the same in both; the toolbox's grey plane) reproduce the toolbox, not the
    textbook value: 20 log10(255 / sqrt(MSE)) with the MSE taken on [0, 1] data (see `mse`), i.e. the "paper" value
    + 20 log10(255) = + 48.13 dB (56-71 dB on TNO); zero error is capped as above, 48.13 dB higher.
    """
    p = _view(fused, a, b, convention)
    ea, eb = _sq_err(p)
    n = p.f[0].size
    if convention == "vifb":
        err = (np.sqrt(ea) + np.sqrt(eb)) / (2 * n)
    else:
        err = (ea + eb) / (2 * n)
    err = np.maximum(err, 1 / (2 * n))
    if convention in TANG:
        err = err / 255.0 ** 2       # the MSE of [0, 1] data, still against a peak of 255
    return float((10 * np.log10(255.0 ** 2 / err)).mean())


def mse(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        convention: str = "vifb") -> float:
    """MSE, mean squared error of F against the sources: (MSE(A, F) + MSE(B, F)) / 2 with
    MSE(X, F) = sum (X - F)^2 / (M N).

    Conventions "vifb" and "paper": in grey levels squared, range [0, 255^2] (VIFB reports no MSE; this is the
    paper definition). "tang" and "tang2022" (the same in both; the toolbox's grey plane) reproduce the toolbox:
    on [0, 1] data (`im2double`), i.e. the value above / 255^2, range [0, 1].
    Lower is better. Colour: mean over channels. Identical images: 0.
    """
    p = _view(fused, a, b, convention)
    ea, eb = _sq_err(p)
    value = float(((ea + eb) / (2 * p.f[0].size)).mean())
    return value / 255.0 ** 2 if convention in TANG else value


# ---------------------------------------------------------------------------------------- gradient metrics
def _orientation(gx: np.ndarray, gy: np.ndarray, flat: float) -> np.ndarray:
    """atan(gy / gx) in [-pi/2, pi/2]; `flat` where gx == 0 (the reference codes' choices differ)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gx == 0, flat, np.arctan(gy / np.where(gx == 0, 1, gx)))


def qabf(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
         convention: str = "vifb") -> float:
    """Qabf (Q^AB/F), edge-information preservation of Xydeas & Petrovic (2000): how much of the sources' Sobel edge
    strength and orientation survives in F, weighted by the sources' edge strength.

    With Sobel gradients (zero padding) g and orientation alpha = atan(gy/gx) (pi/2 where gx = 0):
    G_AF = g_F/g_A if g_A > g_F, g_A/g_F if smaller (g_F if equal, as in the widely used reference code);
    A_AF = 1 - |alpha_A - alpha_F| / (pi/2); Q_AF = Tg/(1+exp(-15 (G_AF - 0.5))) * Ta/(1+exp(-22 (A_AF - 0.8))),
    Tg = 0.9994, Ta = 0.9879; Qabf = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B).
    Range [0, ~0.975] (the sigmoids never reach 1); higher is better. Colour: mean over channels.
    Sources without any edge (all black): 0.
    Conventions "vifb" and "paper" compute this; so does "tang", on the toolbox's grey plane (its current code
    passes grey levels 0..255, where the Sobel responses are exact integers). "tang2022" reproduces the published
    numbers, not the textbook value: its 2022 code ran on [0, 1] data (`im2double`), where two things change.
    (1) The rule G = g_F where g_A = g_F is not scale-free: on [0, 1] data g_F is below 0.5 for all but strong edges
    (integer Sobel strength under 128), so an edge kept at exactly its strength scores near 0, not 1. (2) Sobel sums
    of non-integers leave rounding residues (about 1e-17) where the true response is 0, which turn the orientation
    of a flat direction from pi/2 into anything, e.g. -pi/2, and make equal strengths unequal. Both are reproduced
    exactly by adding the kernel's terms in the order MATLAB's `conv2` does (kernel
    column by column); the toolbox's values are matched to about 1e-15.
    """
    p = _view(fused, a, b, convention)
    if convention in TANG:   # MATLAB's conv2 'same' (zero padding) and sqrt(x.^2 + y.^2)
        scale = 255.0 if convention == "tang2022" else 1.0
        grads = []
        for x in (p.f, p.a, p.b):
            gx, gy = _conv2_same(x / scale, _TOOLBOX_SOBEL_X), _conv2_same(x / scale, _TOOLBOX_SOBEL_Y)
            grads.append((np.sqrt(gx * gx + gy * gy), _orientation(gx, gy, math.pi / 2)))
        return _qabf_score(grads[0], grads[1:])
    gxf, gyf = _sobel_cached(p, "f", "zeros")
    grads = []
    for which in ("a", "b"):
        gxs, gys = _sobel_cached(p, which, "zeros")
        grads.append((np.hypot(gxs, gys), _orientation(gxs, gys, math.pi / 2)))
    return _qabf_score((np.hypot(gxf, gyf), _orientation(gxf, gyf, math.pi / 2)), grads)


# Tang's toolbox (after Xydeas & Petrovic's code) convolves with these: h3 for x, h1 for y
_TOOLBOX_SOBEL_X = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
_TOOLBOX_SOBEL_Y = np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])


def _conv2_same(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """MATLAB `conv2(x, h, 'same')` of each plane of `(N, H, W)` with a 3x3 kernel (zero padding), adding the
    kernel's terms h(p, q) x(i-p+2, j-q+2) one after the other in MATLAB's order, column by column of h, so that
    the rounding of non-integer data matches MATLAB's to the last bit (zero terms are skipped: adding 0 is exact)."""
    q = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    h_, w_ = x.shape[1:]
    out = np.zeros_like(x, dtype=np.float64)
    for col in range(3):
        for row in range(3):
            if h[row, col]:
                out = out + h[row, col] * q[:, 2 - row:2 - row + h_, 2 - col:2 - col + w_]
    return out


def _qabf_score(f: tuple[np.ndarray, np.ndarray], sources: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Qabf (see `qabf`) from the edge strength and orientation of F and of each source, per plane, averaged."""
    gf, af = f
    num, den = 0.0, 0.0
    for gs, as_ in sources:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(gs > gf, gf / gs, np.where(gs == gf, gf, gs / np.where(gf == 0, 1, gf)))
        ang = 1 - np.abs(as_ - af) / (math.pi / 2)
        q = 0.9994 / (1 + np.exp(-15 * (rel - 0.5))) * 0.9879 / (1 + np.exp(-22 * (ang - 0.8)))
        num = num + (q * gs).sum((1, 2))
        den = den + gs.sum((1, 2))
    return float(np.where(den > 0, num / np.where(den > 0, den, 1), 0.0).mean())


def nabf(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
         convention: str = "vifb") -> float:
    """Nabf (N^AB/F), fusion artefacts: the share of edge information F shows that neither source has, in
    Shreyamsha Kumar's modified form of Petrovic's measure (2013), the one fusion papers report.

    Sobel gradients with replicated borders; g strength, alpha = atan(gy/gx) (0 where both are 0);
    G_AF = min(g_A, g_F)/max(g_A, g_F) (0 if either is 0); A_AF = | |alpha_A - alpha_F| - pi/2 | * 2/pi;
    Q_AF = sqrt(0.9999/(1+exp(-19 (G_AF-0.5))) * 0.9995/(1+exp(-22 (A_AF-0.5))));
    weights w_A = g_A^1.5 where g_A >= 2, else 0.001; artefact pixels are those with g_F > g_A and g_F > g_B;
    Nabf = sum_artefact((1 - Q_AF) w_A + (1 - Q_BF) w_B) / sum_all(w_A + w_B).
    Range [0, 1]; lower is better. Colour: mean over channels. Identical inputs: 0.
    Conventions "vifb" and "paper" compute this.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the same value on its grey plane.
    """
    p = _view(fused, a, b, convention)
    gxf, gyf = _sobel_cached(p, "f", "replicate")
    gf = np.hypot(gxf, gyf)
    af = np.where((gxf == 0) & (gyf == 0), 0.0, _orientation(gxf, gyf, math.pi / 2))
    grads, terms, weights = [], [], []
    for which in ("a", "b"):
        gxs, gys = _sobel_cached(p, which, "replicate")
        gs = np.hypot(gxs, gys)
        as_ = np.where((gxs == 0) & (gys == 0), 0.0, _orientation(gxs, gys, math.pi / 2))
        lo, hi = np.minimum(gs, gf), np.maximum(gs, gf)
        rel = np.where(lo > 0, lo / np.where(hi > 0, hi, 1), 0.0)
        ang = np.abs(np.abs(as_ - af) - math.pi / 2) * 2 / math.pi
        q = np.sqrt(0.9999 / (1 + np.exp(-19 * (rel - 0.5))) * 0.9995 / (1 + np.exp(-22 * (ang - 0.5))))
        w = np.where(gs >= 2, gs ** 1.5, 0.001)
        grads.append(gs), terms.append((1 - q) * w), weights.append(w)
    artefact = (gf > grads[0]) & (gf > grads[1])
    num = np.where(artefact, terms[0] + terms[1], 0).sum((1, 2))
    return float((num / (weights[0] + weights[1]).sum((1, 2))).mean())


# ---------------------------------------------------------------------------------- human-perception metrics
def qcb(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        convention: str = "vifb") -> float:
    """Qcb, Chen & Blum's human-perception metric (2009): how well F preserves the sources' local contrast as seen
    through a contrast-sensitivity filter, weighted by which source is locally more salient.

    1. Filter each image in the frequency domain with the DoG contrast-sensitivity function
       S(r) = exp(-(r/15.3870)^2) - 0.7622 exp(-(r/1.3456)^2), r in cycles/degree (frequency grid scaled by n/30).
    2. Local contrast C = (G_2 * I) / (G_4 * I) - 1 with 31x31 Gaussians of sigma 2 and 4 (zero padding); masked
       contrast C' = |C|^3 / (|C|^2 + 0.0001).
    3. Q_AF = min(C'_A, C'_F) / max(C'_A, C'_F) per pixel; saliency lambda_A = C'_A^2 / (C'_A^2 + C'_B^2).
    4. Qcb = mean(lambda_A Q_AF + lambda_B Q_BF).
    Convention "vifb" first stretches each image to 0..255 (min-max, rounded) as the benchmark's code does; "paper"
    uses the images as they are. Range [0, 1]; higher is better. Colour: mean over channels. Where a ratio is 0/0
    (no contrast in either image) Q counts as 1 and the sources weigh 1/2 each.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the "paper" value on its grey plane.
    """
    p, convention = _view(fused, a, b, convention), _base(convention)
    return float(np.mean([_qcb_plane(p.a[c:c + 1], p.b[c:c + 1], p.f[c:c + 1], convention) for c in range(len(p.f))]))


def _qcb_plane(ia: np.ndarray, ib: np.ndarray, f: np.ndarray, convention: str) -> float:
    images = np.concatenate([ia, ib, f])
    if _check(convention) == "vifb":
        images = _minmax_255(images)
    h, w = f.shape[1:]
    r = _freq_radius(h, w, 30.0)
    filtered = _csf_filter(images, np.exp(-(r / 15.3870) ** 2) - 0.7622 * np.exp(-(r / 1.3456) ** 2))
    fine, coarse = _fft_filter(filtered, [_gauss2d(31, 2.0, normalise=False), _gauss2d(31, 4.0, normalise=False)])
    contrast = np.abs(np.where(coarse != 0, fine / np.where(coarse != 0, coarse, 1) - 1, 0.0))
    masked = contrast ** 3 / (contrast ** 2 + 1e-4)
    ca, cb, cf = np.split(masked, 3)

    def keep(x: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(x, cf), np.maximum(x, cf)
        return np.where(hi > 0, lo / np.where(hi > 0, hi, 1), 1.0)

    sa, sb = ca * ca, cb * cb
    tot = sa + sb
    la = np.where(tot > 0, sa / np.where(tot > 0, tot, 1), 0.5)
    return float((la * keep(ca) + (1 - la) * keep(cb)).mean())


def qcv(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
        convention: str = "vifb", window: int = 16, alpha: float = 5.0) -> float:
    """Qcv, Chen & Varshney's human-perception metric (2007): the contrast-sensitivity-filtered squared difference
    between F and each source, averaged over local regions weighted by the source's edge saliency there.

    1. Saliency of each `window` x `window` region R (16x16, tiled from the top-left; partial regions at the right
       and bottom are zero-padded): lambda_A(R) = sum_R g_A^alpha, g the Sobel magnitude (zero padding), alpha 5.
    2. D_A = A - F filtered in the frequency domain by Mannos & Sakrison's CSF
       2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1), r in cycles/degree (frequency grid scaled by n/8);
       D_A(R) = mean over the padded region of the squared filtered difference.
    3. Qcv = sum_R (lambda_A D_A + lambda_B D_B) / sum_R (lambda_A + lambda_B).
    Convention "vifb" first stretches each image to 0..255 (min-max, rounded) as the benchmark's code does; "paper"
    uses the images as they are. Range [0, 255^2] in grey levels squared; lower is better (a distance).
    Colour: mean over channels. Sources with no edges at all (black): 0.
    Conventions "tang" and "tang2022": not one of the toolbox's 11 metrics; the "paper" value on its grey plane.
    """
    p, convention = _view(fused, a, b, convention), _base(convention)
    return float(np.mean([_qcv_plane(p.a[c:c + 1], p.b[c:c + 1], p.f[c:c + 1], convention, window, alpha)
                          for c in range(len(p.f))]))


def _qcv_plane(ia: np.ndarray, ib: np.ndarray, f: np.ndarray, convention: str, window: int, alpha: float) -> float:
    images = np.concatenate([ia, ib, f])
    if _check(convention) == "vifb":
        images = _minmax_255(images)
    ia, ib, f = np.split(images, 3)
    h, w = f.shape[1:]
    ph, pw = -h % window, -w % window

    def regions(x: np.ndarray, reduce: Callable) -> np.ndarray:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)))
        return reduce(rearrange(x, "c (i y) (j x) -> c i j (y x)", y=window, x=window), -1)

    gx, gy = _sobel(np.concatenate([ia, ib]), "zeros")
    sal = regions(np.hypot(gx, gy) ** alpha, np.sum)
    r = _freq_radius(h, w, 8.0)
    csf = 2.6 * (0.0192 + 0.144 * r) * np.exp(-(0.144 * r) ** 1.1)
    dist = regions(_csf_filter(np.concatenate([ia - f, ib - f]), csf) ** 2, np.mean)
    la, lb = np.split(sal, 2)
    da, db = np.split(dist, 2)
    num = (la * da + lb * db).sum((1, 2))
    den = (la + lb).sum((1, 2))
    return float(np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)[0])


# ------------------------------------------------------------------------------------------------------ table
class Metric(NamedTuple):
    fn: Callable[..., float]
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    "en": Metric(en, True), "sd": Metric(sd, True), "sf": Metric(sf, True), "ag": Metric(ag, True),
    "mi": Metric(mi, True), "fmi": Metric(fmi, True), "scd": Metric(scd, True), "vif": Metric(vif, True),
    "qabf": Metric(qabf, True), "nabf": Metric(nabf, False), "ssim": Metric(ssim, True),
    "ms_ssim": Metric(ms_ssim, True), "cc": Metric(cc, True), "psnr": Metric(psnr, True),
    "rmse": Metric(rmse, False), "mse": Metric(mse, False), "ce": Metric(ce, False), "ei": Metric(ei, True),
    "qcb": Metric(qcb, True), "qcv": Metric(qcv, False),
}

# The VIFB benchmark's names for the 13 metrics it reports (its `Variance` is the standard deviation).
VIFB_NAMES = {"Avg_gradient": "ag", "Cross_entropy": "ce", "Edge_intensity": "ei", "Entropy": "en", "Mutinf": "mi",
              "Psnr": "psnr", "Qabf": "qabf", "Qcb": "qcb", "Qcv": "qcv", "Rmse": "rmse",
              "Spatial_frequency": "sf", "Ssim": "ssim", "Variance": "sd"}

# The names of the 11 metrics of Linfeng Tang's toolbox (the sheets of its Metric_*.xlsx); `resolve` accepts them.
TANG_NAMES = {"EN": "en", "SF": "sf", "SD": "sd", "PSNR": "psnr", "MSE": "mse", "MI": "mi", "VIF": "vif", "AG": "ag",
              "CC": "cc", "SCD": "scd", "Qabf": "qabf"}


def resolve(metrics: Sequence[str] | None = None) -> list[str]:
    """Validate metric names (case-insensitive; VIFB's names accepted) and return them in `METRICS` order."""
    if metrics is None:
        return list(METRICS)
    if isinstance(metrics, str):
        metrics = [m for m in metrics.replace(",", " ").split() if m]
    aliases = ({k.lower(): v for k, v in (VIFB_NAMES | TANG_NAMES).items()}
               | {"ms-ssim": "ms_ssim", "msssim": "ms_ssim"})
    names = []
    for m in metrics:
        key = aliases.get(m.lower(), m.lower())
        if key not in METRICS:
            raise GifnetError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
        names.append(key)
    if not names:
        raise GifnetError(f"no metric selected; choose from {', '.join(METRICS)}")
    return [m for m in METRICS if m in names]


# Metrics that touch no shared cache on `Prepared`, about 40 % of the work of the full set: `measure(threads=2)`
# runs them in a second thread (numpy releases the GIL in its array loops and FFTs). That only pays on an idle
# multi-core machine; on a busy one it is slower, hence the default of 1.
_OWN_THREAD = ("fmi", "vif")


def measure(fused: ImageLike | Prepared, a: ImageLike | None = None, b: ImageLike | None = None, *,
            metrics: Sequence[str] | None = None, convention: str = "vifb", threads: int = 1) -> dict[str, float]:
    """Score one fused image against its two sources.

    fused, a, b: paths, PIL images or arrays (uint8/uint16, or float in [0, 1]); all the same size.
    metrics: names from `METRICS` (default: all 20, in table order). convention: "vifb" (default; reproduces the
    VIFB benchmark), "paper", "tang2022" (Linfeng Tang's toolbox as published) or "tang" (its current code); see the
    module doc and `CONVENTIONS`. threads=2 runs FMI and VIF beside the others (see `_OWN_THREAD`; default 1: one
    after the other).
    Returns {name: value} in table order, always finite.
    """
    _check(convention)
    names = resolve(metrics)
    p = prepare(fused, a, b)
    if all(np.ptp(x) == 0 for x in p.f):
        log.warning("%s: the fused image is constant; its scores are the documented degenerate values", p.names[0])

    def run(name: str) -> float:
        return float(METRICS[name].fn(p, convention=convention))

    side = [m for m in names if m in _OWN_THREAD] if threads > 1 else []
    main = [m for m in names if m not in side]
    if not side or not main:
        return {m: run(m) for m in names}
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(lambda: {m: run(m) for m in side})
        out = {m: run(m) for m in main}
        out.update(later.result())
    return {m: out[m] for m in names}
