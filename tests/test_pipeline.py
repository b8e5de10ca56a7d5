"""fuse / enhance / fuse_multispectral: slots, colour rules, precision, sizes, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gifnet
from gifnet import pipeline
from gifnet.errors import GifnetError
from gifnet.image import read_image, rgb_to_ycbcr
from gifnet.model import GIFNet

rng = np.random.default_rng(1)


@pytest.fixture(scope="module")
def net() -> GIFNet:
    torch.manual_seed(0)
    return GIFNet().eval()     # random weights: enough for shapes, modes and colour rules


@pytest.fixture(scope="module")
def official(shared) -> GIFNet:
    return gifnet.load_model(shared / "checkpoints/official/Final.model")


def rgb(h=24, w=20):
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def grey(h=24, w=20):
    return (rng.random((h, w)) * 255).astype(np.uint8)


@pytest.mark.parametrize("task,a,b,mode", [
    ("ivif", grey, rgb, 3), ("nir-vis", grey, rgb, 3), ("medical", rgb, grey, 3), ("mfif", rgb, rgb, 3),
    ("meif", rgb, rgb, 3), ("remote", grey, grey, 2), ("auto", grey, grey, 2), ("auto", grey, rgb, 3),
    ("ivif", grey, grey, 2), ("medical", grey, grey, 2),
])
def test_output_size_and_mode(net, task, a, b, mode):
    out = gifnet.fuse(a(), b(), task=task, model=net)
    assert out.dtype == np.uint8 and out.ndim == mode and out.shape[:2] == (24, 20)


def test_single_source_colour_is_that_sources_chroma(net):
    a, b = grey(), rgb()
    out = gifnet.fuse(a, b, task="ivif", model=net).astype(np.float32) / 255
    _, cb_out, cr_out = rgb_to_ycbcr(out)
    _, cb_b, cr_b = rgb_to_ycbcr(b.astype(np.float32) / 255)
    inside = (out > 0.02).all(-1) & (out < 0.98).all(-1)      # away from clipping
    assert np.abs(cb_out - cb_b)[inside].max() < 0.01 and np.abs(cr_out - cr_b)[inside].max() < 0.01
    med = gifnet.fuse(b, a, task="medical", model=net).astype(np.float32) / 255
    assert np.abs(rgb_to_ycbcr(med)[1] - cb_b)[inside].mean() < 0.01


def test_two_colour_sources_fuse_chroma(net):
    a = np.zeros((16, 16, 3), np.uint8)
    a[...] = (200, 40, 40)                               # saturated red
    b = np.full((16, 16, 3), 128, np.uint8)              # neutral grey: no chroma
    out = gifnet.fuse(a, b, task="mfif", model=net)
    assert (out[..., 0].astype(int) - out[..., 1]).min() > 40   # |C| weighting keeps the red, not a washed-out mix


def test_slot_order_matters(official):
    a, b = grey(32, 32), grey(32, 32)
    assert not np.array_equal(gifnet.fuse(a, b, model=official), gifnet.fuse(b, a, model=official))


def test_sixteen_bit_precision_survives_the_pipeline(net, monkeypatch):
    """With the network replaced by the identity, a 16-bit ramp comes back exactly: nothing passes through 8 bits."""
    monkeypatch.setattr(pipeline, "run_network", lambda model, a, b, **options: a)
    ramp = np.tile(np.arange(20000, 20040, dtype=np.uint16), (40, 1))     # 40 levels inside one 8-bit step
    out = gifnet.fuse(ramp, ramp, model=net)
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - ramp).max() <= 1
    colour = np.stack([ramp, ramp, ramp], -1)
    assert np.abs(gifnet.fuse(colour, colour, task="mfif", model=net).astype(int) - colour).max() <= 2
    assert gifnet.fuse(ramp, grey(40, 40), model=net).dtype == np.uint16


def test_float_in_float_out(net):
    a = rng.random((16, 16)).astype(np.float32)
    out = gifnet.fuse(a, a, model=net)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_inputs_as_paths_pil_and_arrays_agree(net, tmp_path):
    a, b = grey(), rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    ref = gifnet.fuse(a, b, task="ivif", model=net)
    assert np.array_equal(gifnet.fuse(tmp_path / "a.png", str(tmp_path / "b.png"), task="ivif", model=net), ref)
    assert np.array_equal(gifnet.fuse(Image.fromarray(a), Image.fromarray(b), task="ivif", model=net), ref)


def test_size_mismatch_names_both_sizes_and_resize_option(net):
    with pytest.raises(GifnetError, match=r"20x24.*30x24.*--resize"):
        gifnet.fuse(grey(24, 20), grey(24, 30), model=net)
    assert gifnet.fuse(grey(24, 20), grey(24, 30), model=net, resize=True).shape == (24, 20)


def test_too_small_and_too_large(net, monkeypatch):
    with pytest.raises(GifnetError, match="at least 8x8"):
        gifnet.fuse(grey(5, 40), grey(5, 40), model=net)
    monkeypatch.setattr(pipeline, "available_memory", lambda: 10 * 2**20)     # 10 MB free
    with pytest.raises(GifnetError, match="needs about .* GB"):
        gifnet.fuse(grey(64, 64), grey(64, 64), model=net)


def test_unknown_task(net):
    with pytest.raises(GifnetError, match="unknown task 'fusion'"):
        gifnet.fuse(grey(), grey(), task="fusion", model=net)


def test_enhance_keeps_mode_and_size(net):
    assert gifnet.enhance(rgb(), model=net).shape == (24, 20, 3)
    assert gifnet.enhance(grey(), model=net).shape == (24, 20)


def test_histogram_matching_and_reassembly():
    x, ref = rng.random((20, 30)).astype(np.float32), rng.random((20, 30)).astype(np.float32) ** 2
    m = pipeline.match_histogram(x, ref)
    assert np.array_equal(np.sort(m, axis=None), np.sort(ref, axis=None))          # ref's histogram exactly
    assert np.array_equal(np.argsort(m, axis=None), np.argsort(x, axis=None))      # x's order kept
    flat = np.full((20, 30), 0.5, np.float32)
    out = pipeline.reassemble_band(flat, ref)          # no detail in a flat band: the result is ref's histogram
    assert np.allclose(np.sort(out, axis=None), np.sort(ref, axis=None), atol=1e-6)


def test_multispectral_list_equals_stack(net):
    bands = [grey(32, 32) for _ in range(3)]
    pan = grey(32, 32)
    stacked = gifnet.fuse_multispectral(np.stack(bands, -1), pan, model=net)
    assert stacked.shape == (32, 32, 3)
    assert np.array_equal(gifnet.fuse_multispectral(bands, pan, model=net), stacked)
    with pytest.raises(GifnetError, match="band 1 is 16x16 but PAN is 32x32"):
        gifnet.fuse_multispectral([grey(16, 16)], pan, model=net)


# ------------------------------------------------------------------------------------ the release's sample images
SAMPLES = [("ivif", "IVIF/ir", "IVIF/vis"), ("mfif", "MFIF/ir", "MFIF/vis"), ("meif", "MEIF/ir", "MEIF/vis"),
           ("medical", "Medical/pet", "Medical/mri"), ("nir-vis", "NIR-VIS/nir", "NIR-VIS/vis")]


@pytest.mark.slow
@pytest.mark.parametrize("task,a,b", SAMPLES)
def test_samples_every_task(official, shared, task, a, b):
    pa, pb = [next((shared / "samples" / d).iterdir()) for d in (a, b)]
    out = gifnet.fuse(pa, pb, task=task, model=official)
    src = Image.open(pb)
    assert out.shape[:2] == (src.height, src.width)
    assert out.ndim == 3 and out.dtype == np.uint8                  # every sample task has a colour source
    y_out = rgb_to_ycbcr(out.astype(np.float32) / 255)[0]
    assert y_out.std() > 0.05                                        # a real picture, not a flat field


@pytest.mark.slow
def test_sample_remote_sensing(official, shared):
    ms = next((shared / "samples/Remote/MS").iterdir())
    pan = next((shared / "samples/Remote/PAN").iterdir())
    out = gifnet.fuse_multispectral(ms, pan, model=official)
    assert out.shape == read_image(ms, allow_bands=True)[0].shape and out.dtype == np.uint8


@pytest.mark.slow
def test_sample_enhancement(official, shared):
    img = next((shared / "samples/Medical/mri").iterdir())
    out = gifnet.enhance(img, model=official)
    src = np.asarray(Image.open(img), dtype=np.float32)
    assert out.shape == src.shape and out.std() > src.std()         # more contrast, as the reference reports
