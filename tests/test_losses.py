"""Losses: MS-SSIM (release variant and standard), information weights, intensity and reconstruction losses."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from gifnet.densenet import DenseNet121
from gifnet.errors import GifnetError
from gifnet.losses import (MS_SSIM_WEIGHTS, DenseNetEnergy, GradientEnergy, gaussian_window, information_weights,
                           intensity_loss, make_information_source, multiscale_ssim, reconstruction_loss,
                           ssim_and_contrast)


def textured(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = F.interpolate(torch.rand(n, 1, size // 8, size // 8, generator=g), size=(size, size), mode="bilinear")
    return (0.6 * smooth + 0.4 * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)


def blurred(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="reflect"), k, stride=1)


# ---------------------------------------------------------------------------------------------------------- SSIM
def reference_ssim_cs(x: np.ndarray, y: np.ndarray, win: np.ndarray, L: float = 1.0) -> tuple[float, float]:
    """Single-scale SSIM and cs written independently: explicit 11x11 windows weighted by the Gaussian (float64)."""
    def f(a):
        return np.einsum("ijkl,kl->ij", sliding_window_view(a, win.shape), win)
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    return float(np.mean((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs)), float(np.mean(cs))


def test_ssim_matches_independent_computation():
    x, y = textured(1, 40, 1), textured(1, 40, 2)
    win = gaussian_window(11, 1.5, torch.float64)[0, 0].numpy()
    assert win.sum() == pytest.approx(1.0)
    ssim, cs = ssim_and_contrast(x.double(), y.double())
    ref = reference_ssim_cs(x[0, 0].double().numpy(), y[0, 0].double().numpy(), win)
    assert ssim.item() == pytest.approx(ref[0], abs=1e-9) and cs.item() == pytest.approx(ref[1], abs=1e-9)


def test_release_ms_ssim_is_the_documented_product():
    """Rebuild the release formula by hand from single-scale terms: 5 scales, 2x2 average pooling, window shrinking
    to the image side, (v+1)/2 mapping, weighted product."""
    x, y = textured(1, 64, 3).double(), textured(1, 64, 4).double()
    terms = []
    for i in range(5):
        s, cs = ssim_and_contrast(x, y, window=min(11, x.shape[-1]))
        terms.append((s if i == 4 else cs).item())
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    expected = np.prod([((t + 1) / 2) ** w for t, w in zip(terms, MS_SSIM_WEIGHTS)])
    got = multiscale_ssim(textured(1, 64, 3).double(), textured(1, 64, 4).double()).item()
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("variant,size", [("release", 32), ("release", 64), ("standard", 176)])
def test_ms_ssim_identity_symmetry_bounds(variant, size):
    x, y = textured(3, size, 5), textured(3, size, 6)
    assert torch.allclose(multiscale_ssim(x, x, variant=variant), torch.ones(3), atol=1e-5)
    a, b = multiscale_ssim(x, y, variant=variant), multiscale_ssim(y, x, variant=variant)
    assert torch.allclose(a, b, atol=1e-6)
    assert ((a >= 0) & (a <= 1)).all() and (a < 0.99).all()
    anti = multiscale_ssim(x, 1 - x, variant=variant)          # anti-correlated structure: still inside [0, 1]
    assert ((anti >= 0) & (anti <= 1)).all() and (anti < a.max()).all()


def test_ms_ssim_falls_with_distortion():
    x = textured(1, 64, 7)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    values = [multiscale_ssim(x, (x + s * noise).clamp(0, 1)).item() for s in (0.0, 0.02, 0.05, 0.1, 0.3)]
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:]))


def test_ms_ssim_gradient_is_finite():
    x = textured(2, 32, 8).requires_grad_()
    (1 - multiscale_ssim(x, textured(2, 32, 9))).mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ms_ssim_rejects_bad_input():
    with pytest.raises(GifnetError, match="176"):
        multiscale_ssim(textured(1, 128), textured(1, 128), variant="standard")
    with pytest.raises(GifnetError, match="16x16"):
        multiscale_ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(GifnetError, match="one shape"):
        multiscale_ssim(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 33))
    with pytest.raises(GifnetError, match="variant"):
        multiscale_ssim(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), variant="fancy")


# --------------------------------------------------------------------------------------------- information weights
@pytest.mark.parametrize("source", [GradientEnergy(), DenseNetEnergy(DenseNet121())], ids=["gradient", "densenet"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_weights_sum_to_one_and_swap(source, per_sample):
    a, b = textured(3, 32, 10), blurred(textured(3, 32, 11))
    wa, wb = information_weights(a, b, source, per_sample=per_sample)
    assert wa.shape == wb.shape == (3,)
    assert torch.allclose(wa + wb, torch.ones(3), atol=1e-6)
    ba, bb = information_weights(b, a, source, per_sample=per_sample)
    assert torch.allclose(wa, bb, atol=1e-6) and torch.allclose(wb, ba, atol=1e-6)
    if not per_sample:
        assert torch.all(wa == wa[0])


def test_gradient_weights_favour_the_detailed_source():
    sharp = textured(4, 64, 12)
    wa, wb = information_weights(sharp, blurred(sharp), GradientEnergy())
    assert (wa > 0.6).all()
    flat = torch.full_like(sharp, 0.5)
    wa, _ = information_weights(sharp, flat, GradientEnergy())
    assert (wa > 0.99).all()
    same_a, same_b = information_weights(sharp, sharp.clone(), GradientEnergy())
    assert torch.allclose(same_a, torch.full((4,), 0.5))


def test_per_sample_weights_follow_each_sample():
    t = textured(2, 32, 13)
    a = torch.stack([t[0], 0.5 + 0.5 * (t[1] - 0.5)])    # sample 1 of a: half the contrast of t[1]
    b = torch.stack([blurred(t[:1])[0], t[1]])           # sample 0 of b: blurred
    wa, _ = information_weights(a, b, GradientEnergy(), per_sample=True)
    assert wa[0] > 0.5 > wa[1]
    assert wa[1].item() == pytest.approx(1 / 3, abs=1e-4)   # RMS ratio 1:2 -> weights 1/3, 2/3


def test_make_information_source():
    assert isinstance(make_information_source("gradient"), GradientEnergy)
    with pytest.raises(GifnetError, match="gradient"):
        make_information_source("vgg")


# ---------------------------------------------------------------------------------------------------------- losses
def test_intensity_loss_formula():
    out, a, b = textured(2, 16, 14), textured(2, 16, 15), textured(2, 16, 16)
    wa, wb = torch.tensor([0.3, 0.8]), torch.tensor([0.7, 0.2])
    per = [wa[i] * ((out[i] - a[i]) ** 2).mean() + wb[i] * ((out[i] - b[i]) ** 2).mean() for i in range(2)]
    assert intensity_loss(out, a, b, wa, wb).item() == pytest.approx(float(sum(per) / 2), rel=1e-6)
    assert intensity_loss(a, a, a, wa, wb).item() == 0


def test_reconstruction_loss():
    x = textured(2, 32, 17)
    assert reconstruction_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    assert reconstruction_loss(blurred(x), x).item() > 0.01
