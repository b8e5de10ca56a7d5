"""Demo examples: the synthesised pairs do what their names say, and are written once."""
from __future__ import annotations

import numpy as np
import pytest

from gifnet import examples
from gifnet.image import luma, read_image


def detail(x: np.ndarray) -> float:
    """Mean absolute Laplacian-like difference: high for sharp images, low for blurred ones."""
    return float(np.abs(4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]).mean())


@pytest.fixture
def scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((64, 80, 3)).astype(np.float32)     # full of detail everywhere


def test_focus_pair_is_complementary(scene):
    near, far = examples.focus_pair(scene)
    c, o = (slice(26, 38), slice(34, 46)), (slice(0, 8), slice(0, 8))         # centre, corner
    y, yn, yf = luma(scene), luma(near), luma(far)
    assert detail(yn[c]) > 0.9 * detail(y[c]) and detail(yn[o]) < 0.3 * detail(y[o])
    assert detail(yf[o]) > 0.9 * detail(y[o]) and detail(yf[c]) < 0.3 * detail(y[c])


def test_exposure_pair_brackets_the_scene(scene):
    over, under = examples.exposure_pair(scene)
    assert over.mean() > scene.mean() > under.mean()
    assert (over >= 1).mean() > 0.05                                             # clipped highlights
    assert under.max() <= 2 ** (-2 / 2.2) + 1e-6                                  # white at -2 EV
    assert over.min() >= 0 and over.max() <= 1 and under.min() >= 0


def test_hazy_and_wald(scene):
    h = examples.hazy(scene)
    assert h.std() < 0.5 * scene.std()
    ms, pan = examples.wald_pair(scene)
    assert ms.shape == scene.shape and pan.shape == scene.shape[:2]
    assert detail(ms[..., 0]) < 0.5 * detail(scene[..., 0])                      # bands lost their detail
    assert np.allclose(pan, luma(scene))


def test_smoke_pair_hides_the_visible_and_not_the_infrared(scene):
    ir, vis = examples.smoke_pair(scene)
    assert ir.shape == scene.shape[:2] and vis.shape == scene.shape
    hidden = np.abs(vis - scene).max(axis=-1) > 0.2                              # where the smoke is thick
    assert 0.2 < hidden.mean() < 0.95
    assert np.abs(ir - examples.gaussian_blur(luma(scene), 1.5)).max() < 1e-6    # no smoke in the infrared
    assert luma(vis)[hidden].std() < 0.7 * luma(scene)[hidden].std()             # contrast lost behind the smoke


def test_make_examples_writes_once(tmp_path):
    pytest.importorskip("skimage")
    made = examples.make_examples(tmp_path)
    assert {e.task for e in made} == {"ivif", "mfif", "meif", "enhance", "remote"}
    assert made[0].task == "ivif"
    for e in made:
        shapes = [read_image(p, allow_bands=True)[0].shape for p in e.files]
        assert all(max(s[:2]) <= examples.MAX_SIDE for s in shapes)
        if e.task in ("mfif", "meif"):
            assert shapes[0] == shapes[1] and len(shapes[0]) == 3
    mtimes = {p: p.stat().st_mtime_ns for e in made for p in e.files}
    again = examples.make_examples(tmp_path)
    assert [e.files for e in again] == [e.files for e in made]
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
