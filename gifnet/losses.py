"""Training losses: MS-SSIM (the release's variant and the standard one), information weights, the intensity loss.

The release trains with two losses (see `gifnet.trainer`):

    fusion      w_a * MSE(out, a) + w_b * MSE(out, b)          (IVIF; MFIF uses MSE(out, sharp) alone)
    rec         1 - MS-SSIM(rec, target) + MSE(rec, target)    (the reconstruction branch)

`w_a, w_b` are *information weights*: how much detail each source carries, turned into two numbers that sum to 1
(a softmax). Only the relative information content matters. Two sources of that measure are pluggable:

    GradientEnergy   (default, no download) mean squared response of a 3x3 high-pass filter on the image at a few
                     scales: cheap, weight-free, and favours the source with more edges and texture.
    DenseNetEnergy   (the release) the same filter on five feature stages of a frozen ImageNet DenseNet-121
                     (`gifnet.densenet`); the weights come from the Hugging Face Hub.

Weights can be computed once per batch (the release: one pair for the whole batch) or per sample.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .errors import GifnetError
from .image import gaussian_kernel

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)   # Wang, Simoncelli & Bovik 2003, one per scale


# ------------------------------------------------------------------------------------------------------------ SSIM
def gaussian_1d(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> torch.Tensor:
    """A normalised 1-D Gaussian of `size` taps, `(size,)` (`gifnet.image.gaussian_kernel` as a tensor)."""
    return torch.from_numpy(gaussian_kernel(sigma, size=size)).to(device=device, dtype=dtype)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """A normalised 2-D Gaussian, `(1, 1, size, size)` (the outer product of two `gaussian_1d`)."""
    g = gaussian_1d(size, sigma, torch.float64, device)
    return torch.outer(g, g).to(dtype)[None, None]


def ssim_and_contrast(x: torch.Tensor, y: torch.Tensor, *, window: int = 11, sigma: float = 1.5,
                      data_range: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term `cs` per sample, `(N,)` each, for `(N,C,H,W)` images.

    Local statistics come from a Gaussian window applied without padding (only fully covered positions count):
        cs   = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2)
        ssim = (2 m_x m_y + C1) / (m_x^2 + m_y^2 + C1) * cs,    C1 = (0.01 L)^2, C2 = (0.03 L)^2.
    """
    c = x.shape[1]
    g = gaussian_1d(window, sigma, x.dtype, x.device)
    gy, gx = g.view(1, 1, -1, 1).expand(c, 1, -1, 1), g.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:   # separable: a column pass then a row pass ('valid' positions)
        return F.conv2d(F.conv2d(t, gy, groups=c), gx, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim.mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def multiscale_ssim(x: torch.Tensor, y: torch.Tensor, *, variant: str = "release", data_range: float = 1.0,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """Multi-scale SSIM per sample, `(N,)`, of `(N,C,H,W)` images; 1 for identical images, symmetric in x and y.

    At each of the 5 scales (2x2 average pooling in between) `cs` is measured; at the coarsest also SSIM. Then
        MS-SSIM = prod_{i<5} cs_i^w_i * ssim_5^w_5.
    variant="release": what the authors trained with. Values are mapped by (v + 1) / 2 before the weighted product
        (so the result lies in [0, 1] even where structure is anti-correlated), and the 11x11 window shrinks to the
        image side at coarse scales (a 128x128 crop is 8x8 at scale 5), so any image of at least 16x16 works.
    variant="standard": Wang et al. 2003; negative cs / ssim are clipped to 0 and the 11x11 window is fixed, so the
        image must be at least 176 pixels on its shorter side (11 at the coarsest scale).
    """
    if x.shape != y.shape or x.ndim != 4:
        raise GifnetError(f"multiscale_ssim needs two (N,C,H,W) tensors of one shape, got {tuple(x.shape)} and "
                          f"{tuple(y.shape)}")
    if variant not in ("release", "standard"):
        raise GifnetError(f"multiscale_ssim variant must be 'release' or 'standard', got {variant!r}")
    levels = len(weights)
    side = min(x.shape[-2:])
    need = 11 * 2 ** (levels - 1) if variant == "standard" else 2 ** (levels - 1)
    if side < need:
        raise GifnetError(f"multiscale_ssim ({variant}) needs images of at least {need}x{need} pixels, got "
                          f"{x.shape[-1]}x{x.shape[-2]}" + ("; use variant='release' for small crops"
                                                            if variant == "standard" else ""))
    w = torch.tensor(weights, dtype=x.dtype, device=x.device)
    values = []
    for i in range(levels):
        win = min(11, *x.shape[-2:]) if variant == "release" else 11
        ssim, cs = ssim_and_contrast(x, y, window=win, data_range=data_range)
        values.append(ssim if i == levels - 1 else cs)
        if i < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    v = torch.stack(values, dim=1)                                   # (N, levels)
    v = (v + 1) / 2 if variant == "release" else v.clamp(min=0)
    return torch.prod(v ** w, dim=1)


# --------------------------------------------------------------------------------------------- information weights
def high_pass(x: torch.Tensor) -> torch.Tensor:
    """The release's 3x3 high-pass filter per channel: centre -1, the 8 neighbours 1/8 (replicate borders)."""
    c = x.shape[1]
    k = torch.full((3, 3), 1 / 8, dtype=x.dtype, device=x.device)
    k[1, 1] = -1
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)


class InformationSource(Protocol):
    """Anything that maps a batch `(N,1,H,W)` in [0,1] to one non-negative amount of information per sample `(N,)`.

    `temperature` and `log_scale` say how two amounts become weights (see `information_weights`)."""
    temperature: float
    log_scale: bool

    def __call__(self, img: torch.Tensor) -> torch.Tensor: ...


class GradientEnergy(nn.Module):
    """Weight-free information measure: the mean squared high-pass response of the image at `scales` scales
    (2x2 average pooling in between), averaged over scales. More edges and texture -> more energy.

    Weights are taken on a log scale: `w_a = e_a^p / (e_a^p + e_b^p)` with `p = 1 / temperature`; the default
    p = 0.5 compares RMS responses, so a source with 4x the energy gets weight 2/3."""

    log_scale = True

    def __init__(self, scales: int = 3, temperature: float = 2.0):
        super().__init__()
        self.scales, self.temperature = scales, temperature

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        img = img.float()
        energies = []
        for s in range(self.scales):
            if s:
                if min(img.shape[-2:]) < 4:
                    break
                img = F.avg_pool2d(img, 2)
            energies.append(high_pass(img).pow(2).mean(dim=(1, 2, 3)))
        return torch.stack(energies, dim=1).mean(dim=1)


class DenseNetEnergy(nn.Module):
    """The release's measure: the mean squared high-pass response of each of DenseNet-121's five feature stages
    (grey repeated to three channels, ImageNet normalisation), averaged over the stages. Weights are a plain softmax
    of the two numbers (divided by `temperature`, 1 in the release).

    `DenseNetEnergy.from_hub()` downloads ImageNet weights (see `gifnet.densenet.load_densenet121`)."""

    log_scale = False

    def __init__(self, network: nn.Module, temperature: float = 1.0):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.temperature = temperature

    @classmethod
    def from_hub(cls, temperature: float = 1.0, **kwargs) -> DenseNetEnergy:
        from .densenet import load_densenet121
        return cls(load_densenet121(**kwargs), temperature)

    def train(self, mode: bool = True) -> DenseNetEnergy:
        super().train(mode)
        self.network.eval()           # batch norm stays in inference mode
        return self

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        stages = self.network.stages(img.float())
        return torch.stack([high_pass(s).pow(2).mean(dim=(1, 2, 3)) for s in stages], dim=1).mean(dim=1)


def make_information_source(name: str, **kwargs) -> InformationSource:
    """'gradient' (default, no download) or 'densenet' (the release; ImageNet weights from the Hub)."""
    if name == "gradient":
        return GradientEnergy(**kwargs)
    if name == "densenet":
        return DenseNetEnergy.from_hub(**kwargs)
    raise GifnetError(f"unknown information weight source {name!r}; use 'gradient' or 'densenet'")


def information_weights(a: torch.Tensor, b: torch.Tensor, source: InformationSource, *, per_sample: bool = False,
                        total: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights `(w_a, w_b)`, each `(N,)`, with w_a + w_b = 1, the larger for the source carrying more information.

    per_sample=False (the release): the amounts are averaged over the batch first, so every sample gets the same pair;
    `total` sums a tensor over the processes that share the batch (`gifnet.runtime.Distributed.sum_`), so the average
    is over the global batch. The pair is softmax([e_a, e_b] / temperature), on log amounts for sources with
    `log_scale` (ratios matter)."""
    ea, eb = source(a), source(b)
    if not per_sample:
        sums = torch.stack([ea.sum(), eb.sum(), torch.tensor(float(len(ea)), device=ea.device, dtype=ea.dtype)])
        if total is not None:
            sums = total(sums)
        ea, eb = (sums[0] / sums[2]).expand_as(ea), (sums[1] / sums[2]).expand_as(eb)
    if source.log_scale:
        ea, eb = torch.log(ea + 1e-12), torch.log(eb + 1e-12)
    w = torch.softmax(torch.stack([ea, eb], dim=1) / source.temperature, dim=1)
    return w[:, 0].detach(), w[:, 1].detach()


# ---------------------------------------------------------------------------------------------------------- losses
def mse_per_sample(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each sample, `(N,)`."""
    return (x - y).pow(2).mean(dim=tuple(range(1, x.ndim)))


def intensity_loss(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, w_a: torch.Tensor,
                   w_b: torch.Tensor) -> torch.Tensor:
    """`mean_n(w_a[n] * MSE_n(out, a) + w_b[n] * MSE_n(out, b))`: the fused image should keep each source's intensity
    in proportion to its information."""
    return (w_a * mse_per_sample(out, a) + w_b * mse_per_sample(out, b)).mean()


def reconstruction_loss(rec: torch.Tensor, target: torch.Tensor, *, variant: str = "release") -> torch.Tensor:
    """`1 - MS-SSIM(rec, target) + MSE(rec, target)`, averaged over the batch (the auxiliary branch's loss)."""
    rec, target = rec.float(), target.float()
    return (1 - multiscale_ssim(rec, target, variant=variant) + mse_per_sample(rec, target)).mean()


__all__ = ["MS_SSIM_WEIGHTS", "DenseNetEnergy", "GradientEnergy", "gaussian_1d", "gaussian_window", "high_pass",
           "information_weights", "intensity_loss", "make_information_source", "multiscale_ssim", "mse_per_sample",
           "reconstruction_loss", "ssim_and_contrast"]
