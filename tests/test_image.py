"""The one image reader/writer and colour path."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from bombs import jpeg_bomb, png_bomb, tiff_bomb
from PIL import Image

from gifnet import image
from gifnet.errors import GifnetError
from gifnet.image import fuse_chroma, read_image, rgb_to_ycbcr, write_image, ycbcr_to_rgb

rng = np.random.default_rng(0)


def test_ycbcr_round_trip_and_grey_axis():
    rgb = rng.random((32, 32, 3)).astype(np.float32)
    y, cb, cr = rgb_to_ycbcr(rgb)
    assert np.abs(ycbcr_to_rgb(y, cb, cr) - rgb).max() < 2e-3   # the release's rounded coefficients
    grey = np.repeat(rng.random((8, 8, 1)), 3, axis=2).astype(np.float32)
    _, cb, cr = rgb_to_ycbcr(grey)
    assert np.abs(cb).max() < 1e-6 and np.abs(cr).max() < 1e-6
    assert np.allclose(rgb_to_ycbcr(grey)[0], grey[..., 0], atol=1e-6)


def test_known_colours():
    y, cb, cr = rgb_to_ycbcr(np.array([[[1.0, 0, 0], [0, 0, 1.0]]], np.float32))
    assert np.allclose(y, [[0.299, 0.114]]) and np.allclose(cb, [[-0.169, 0.5]]) and np.allclose(cr, [[0.5, -0.081]])


def test_chroma_fusion_weights_by_magnitude():
    a = np.array([0.4, 0.0, 0.2, -0.3, 0.0], np.float32)
    b = np.array([0.0, -0.2, -0.2, -0.1, 0.0], np.float32)
    out = fuse_chroma(a, b)
    assert np.allclose(out, [0.4, -0.2, 0.0, (0.09 + 0.01) / -0.4, 0.0])
    assert np.allclose(fuse_chroma(b, a), out)                       # symmetric
    assert np.all(np.abs(out) <= np.maximum(np.abs(a), np.abs(b)) + 1e-7)


@pytest.mark.parametrize("dtype,bits,scale", [(np.uint8, 8, 255), (np.uint16, 16, 65535)])
def test_read_integer_arrays(dtype, bits, scale):
    arr = (rng.random((5, 6, 3)) * scale).astype(dtype)
    pixels, got_bits = read_image(arr)
    assert got_bits == bits and pixels.dtype == np.float32
    assert np.allclose(pixels * scale, arr, atol=1e-2)


def test_read_drops_alpha_and_squeezes_single_channel():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    pixels, _ = read_image(rgba)
    assert pixels.shape == (4, 4, 3)
    assert read_image(np.zeros((4, 4, 1), np.uint8))[0].shape == (4, 4)
    assert read_image(Image.new("LA", (4, 4)))[0].shape == (4, 4)


@pytest.mark.parametrize("bad,match", [
    (np.full((4, 4), 2.0, np.float32), r"\[0, 1\]"),
    (np.zeros((4, 4), np.int64), "unsupported pixel type"),
    (np.zeros((3, 20, 30), np.uint8), "channel-first"),
    (np.zeros((20, 30, 7), np.uint8), "multi-band"),
    (np.array([[np.nan, 0]], np.float32), "NaN"),
    ("not an image", "not found"),
])
def test_read_rejects_bad_input(bad, match):
    with pytest.raises(GifnetError, match=match):
        read_image(bad)


def test_read_rejects_non_image_file_and_folder(tmp_path):
    f = tmp_path / "notes.png"
    f.write_text("hello")
    with pytest.raises(GifnetError, match="notes.png: not a readable image"):
        read_image(f)
    with pytest.raises(GifnetError, match="is a folder"):
        read_image(tmp_path)
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(b"II*\x00" + b"\x00" * 10)
    with pytest.raises(GifnetError, match="cut.tif"):
        read_image(truncated)


@pytest.mark.parametrize("shape,ext", [((9, 7), ".png"), ((9, 7, 3), ".png"), ((9, 7, 3), ".tif"), ((9, 7, 5), ".tif")])
def test_sixteen_bit_round_trip(tmp_path, shape, ext):
    arr = (rng.random(shape) * 65535).astype(np.uint16)
    path = write_image(arr, tmp_path / f"x{ext}")
    if len(shape) == 3 and ext == ".png":    # Pillow reads 48-bit PNG as 8-bit; check the bytes ourselves
        import zlib
        raw = path.read_bytes()
        idat = raw[raw.index(b"IDAT") + 4: raw.index(b"IEND") - 8]
        rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(shape[0], 1 + shape[1] * 6)[:, 1:]
        assert np.array_equal(rows.copy().view(">u2").reshape(shape), arr)
        return
    back, bits = read_image(path, allow_bands=True)
    assert bits == 16 and np.array_equal(np.round(back * 65535).astype(np.uint16), arr)


def test_write_refuses_overwrite_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.png"
    write_image(np.zeros((4, 4), np.uint8), target)
    with pytest.raises(GifnetError, match="already exists"):
        write_image(np.zeros((4, 4), np.uint8), target)
    write_image(np.full((4, 4), 9, np.uint8), target, overwrite=True)
    assert np.asarray(Image.open(target))[0, 0] == 9
    with pytest.raises(GifnetError, match="only be written as TIFF"):
        write_image(np.zeros((4, 4, 5), np.uint8), tmp_path / "bands.png")
    with pytest.raises(GifnetError, match="does not exist"):
        write_image(np.zeros((4, 4), np.uint8), tmp_path / "missing" / "x.png")
    with pytest.raises(GifnetError, match="unknown output format"):
        write_image(np.zeros((4, 4), np.uint8), tmp_path / "x.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


# ------------------------------------------------------------------------------------------ decompression bombs
def test_bomb_makers_make_valid_files(tmp_path):
    """The crafted bombs below are real images: small ones decode to zeros of the claimed size."""
    assert np.asarray(Image.open(png_bomb(tmp_path / "a.png", 300, 200))).shape == (200, 300, 3)
    assert np.asarray(Image.open(png_bomb(tmp_path / "b.png", 301, 7, channels=1))).shape == (7, 301)
    assert not np.asarray(Image.open(tmp_path / "a.png")).any()
    assert read_image(tiff_bomb(tmp_path / "c.tif", 700, 600))[0].shape == (600, 700)
    assert Image.open(jpeg_bomb(tmp_path / "d.jpg", 3000, 2000)).size == (3000, 2000)


@pytest.mark.parametrize("kind", ["png_rgb", "png_grey", "tiff", "jpeg"])
def test_bombs_are_refused_from_the_header(tmp_path, kind):
    """Files claiming more float pixels than the limit (here the default: the fusion's memory budget) are refused
    with the file, its claimed size and the limit, before decoding; the grey PNG is past Pillow's warning threshold."""
    path = {"png_rgb": lambda: png_bomb(tmp_path / "rgb.png", 20000, 20000),
            "png_grey": lambda: png_bomb(tmp_path / "grey.png", 25000, 25000, channels=1),
            "tiff": lambda: tiff_bomb(tmp_path / "big.tif", 20000, 20000),
            "jpeg": lambda: jpeg_bomb(tmp_path / "big.jpg", 20000, 15000)}[kind]()
    assert path.stat().st_size < 2_000_000
    with pytest.raises(GifnetError, match=rf"{path.name}: claims .*not decoded") as e:
        read_image(path)
    if kind != "png_grey":                                  # the grey one: Pillow's own threshold, 400 M pixels
        assert "limit here is" in str(e.value) and "GB as float pixels" in str(e.value)


def test_the_limit_follows_the_memory_budget_and_the_caller(tmp_path, monkeypatch):
    from gifnet import pipeline

    path = png_bomb(tmp_path / "x.png", 1000, 500)          # 6 MB as float RGB
    assert read_image(path)[0].shape == (500, 1000, 3)
    with pytest.raises(GifnetError, match=r"claims 1000x500 pixels x 3 channel\(s\), 6 MB .* limit here is 5 MB"):
        read_image(path, max_bytes=5 * 2**20)
    monkeypatch.setattr(pipeline, "available_memory", lambda: 8 * 2**20)   # budget: half of 8 MB
    assert image.max_image_bytes() == 4 * 2**20
    with pytest.raises(GifnetError, match="limit here is 4 MB"):
        read_image(path)
    with pytest.raises(GifnetError, match="limit here is 4 MB"):
        read_image(Image.open(path))                        # a lazily opened PIL image is checked too
    with pytest.raises(GifnetError, match="limit here is 4 MB"):
        read_image(tiff_bomb(tmp_path / "x.tif", 2048, 1024))   # 8 MB as float


# ---------------------------------------------------------------------------------------------- permissions
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    """A new output gets 0o666 & ~umask, as a plain open() would; a replaced file keeps its own permissions."""
    old = os.umask(umask)
    try:
        for ext in (".png", ".tif", ".jpg"):
            path = write_image(np.zeros((4, 4, 3), np.uint16 if ext != ".jpg" else np.uint8), tmp_path / f"x{ext}")
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
        os.chmod(tmp_path / "x.png", 0o640)
        write_image(np.zeros((4, 4), np.uint8), tmp_path / "x.png", overwrite=True)
        assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_an_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    """KeyboardInterrupt (and the CLI's SIGTERM/SIGHUP, raised as Interrupted) mid-write: nothing is left."""
    from gifnet.errors import Interrupted

    def stop(*args, **kwargs):
        raise Interrupted(15)
    monkeypatch.setattr(Image.Image, "save", stop)
    with pytest.raises(Interrupted):
        write_image(np.zeros((4, 4), np.uint8), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
