"""Training data: paired folders, crops, and multi-focus synthesis."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from gifnet.data import (DataConfig, FocusConfig, PairedFolder, RestoreConfig, TrainingStream, convolve, degrade,
                         disk_kernel, edge_share, find_pairs, gaussian_kernel, load_pair, preview_multifocus,
                         synthesize_multifocus)
from gifnet.errors import GifnetError


def texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.25 * np.sin(xx / 3.0 + seed) * np.cos(yy / 5.0)
    return np.clip(base + 0.15 * rng.standard_normal((h, w)), 0, 1).astype(np.float32)


def write_pairs(root, names=("a", "b", "c"), size=(40, 48), same=False, seed=0):
    """ROOT/ir, ROOT/vis with grey PNGs; `same=True` writes identical content to both folders."""
    for sub in ("ir", "vis"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        a = texture(*size, seed + i)
        b = a if same else texture(*size, seed + 100 + i)
        Image.fromarray((a * 255).round().astype(np.uint8)).save(root / "ir" / f"{n}.png")
        Image.fromarray((b * 255).round().astype(np.uint8)).save(root / "vis" / f"{n}.png")
    return root


# ----------------------------------------------------------------------------------------------------- synthesis
def test_kernels_are_normalised():
    for k in (disk_kernel(1.5), disk_kernel(4.2), gaussian_kernel(1.0), gaussian_kernel(2.7)):
        assert k.sum() == pytest.approx(1.0, abs=1e-6) and (k >= 0).all()
        assert np.allclose(k, k[::-1, ::-1]) and np.allclose(k, k.T)
    d = disk_kernel(3.0)
    assert d.shape == (7, 7) and d[3, 3] == d.max() and d[0, 0] == 0


@pytest.mark.parametrize("feather", [0.0, 1.5])
def test_masks_are_complementary_and_sharp_is_recoverable(feather):
    sharp = texture(96, 80, 1)
    s = synthesize_multifocus(sharp, rng=7, config=FocusConfig(feather=feather))
    assert s.near.shape == s.far.shape == s.mask.shape == sharp.shape
    assert s.mask.min() == 0 and s.mask.max() == 1
    near_focus, far_focus = s.mask == 1, s.mask == 0
    assert 0.25 <= (s.mask >= 0.5).mean() <= 0.75                       # coverage drawn from (0.3, 0.7)
    assert near_focus.mean() > 0.05 and far_focus.mean() > 0.05
    # the near image is the sharp one exactly where the mask says so, the far image exactly where the complement does
    assert np.array_equal(s.near[near_focus], sharp[near_focus])
    assert np.array_equal(s.far[far_focus], sharp[far_focus])
    # ... and blurred elsewhere: it differs from the sharp image and has less high-frequency energy
    assert np.abs(s.near[far_focus] - sharp[far_focus]).mean() > 0.02
    assert np.abs(s.far[near_focus] - sharp[near_focus]).mean() > 0.02
    def lap(x):
        return np.abs(np.diff(x, axis=1)).mean()

    assert lap(np.where(far_focus, s.near, 0)) < lap(np.where(far_focus, sharp, 0))
    # complementary soft masks: mask for the near image, 1 - mask for the far one, covering every pixel once
    recombined = s.mask * s.near + (1 - s.mask) * s.far
    if feather == 0:
        assert set(np.unique(s.mask)) == {0.0, 1.0}
        assert np.array_equal(recombined, sharp)
    else:
        edge = (s.mask > 0) & (s.mask < 1)
        assert 0 < edge.mean() < 0.45                                    # a band a few pixels wide
        assert np.array_equal(recombined[~edge], sharp[~edge])


def test_synthesis_is_seeded():
    sharp = texture(64, 64, 2)
    a, b = synthesize_multifocus(sharp, rng=3), synthesize_multifocus(sharp, rng=3)
    c = synthesize_multifocus(sharp, rng=4)
    assert np.array_equal(a.near, b.near) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)


def test_synthesis_rejects_colour():
    with pytest.raises(GifnetError, match="luma"):
        synthesize_multifocus(np.zeros((16, 16, 3), np.float32))


def test_preview_for_notebooks(tmp_path):
    rgb = np.stack([texture(60, 70, s) for s in range(3)], axis=-1)
    path = tmp_path / "x.png"
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    s = preview_multifocus(path, seed=1, crop=48)
    assert s.sharp.shape == s.near.shape == s.far.shape == s.mask.shape == (48, 48)
    with pytest.raises(GifnetError, match="smaller than the 80x80 crop"):
        preview_multifocus(path, crop=80)


# ------------------------------------------------------------------------------------------------ paired folders
def test_pairs_are_matched_by_name(tmp_path):
    write_pairs(tmp_path, names=("z", "a", "m"))
    (tmp_path / "ir" / "notes.txt").write_text("not an image")
    pairs = find_pairs(tmp_path)
    assert [(p.parent.name, p.stem, q.parent.name, q.stem) for p, q in pairs] == [
        ("ir", n, "vis", n) for n in ("a", "m", "z")]


def test_folder_errors(tmp_path):
    with pytest.raises(GifnetError, match="not found"):
        find_pairs(tmp_path / "nothing")
    (tmp_path / "ir").mkdir()
    with pytest.raises(GifnetError, match="no 'vis' sub-folder"):
        find_pairs(tmp_path)
    (tmp_path / "vis").mkdir()
    with pytest.raises(GifnetError, match="contains no images"):
        find_pairs(tmp_path)
    write_pairs(tmp_path, names=("a", "b"))
    (tmp_path / "vis" / "b.png").rename(tmp_path / "vis" / "c.png")
    with pytest.raises(GifnetError, match=r"2 image\(s\) without a partner.*ir/b.png.*vis/c.png"):
        find_pairs(tmp_path)


def test_too_small_for_the_crop(tmp_path):
    write_pairs(tmp_path, size=(40, 48))
    with pytest.raises(GifnetError, match=r"a.png.*48x40 pixels is smaller than the 44x44 crop"):
        PairedFolder(tmp_path, min_size=44)
    assert len(PairedFolder(tmp_path, min_size=40)) == 3


def test_pairs_of_different_sizes_meet_at_the_smaller(tmp_path):
    write_pairs(tmp_path, names=("a",), size=(30, 40))
    big = Image.open(tmp_path / "vis" / "a.png").convert("RGB").resize((120, 90), Image.BICUBIC)
    big.save(tmp_path / "vis" / "a.jpg")
    (tmp_path / "vis" / "a.png").unlink()
    a, b = load_pair(tmp_path / "ir" / "a.png", tmp_path / "vis" / "a.jpg")
    assert a.shape == b.shape == (30, 40) and a.dtype == b.dtype == np.float32


def test_stream_is_deterministic_and_aligned(tmp_path):
    write_pairs(tmp_path, same=True, size=(50, 60))
    folder = PairedFolder(tmp_path, min_size=32)
    stream = TrainingStream(folder, DataConfig(crop=32), seed=5)
    for k in (0, 1, 7):   # 7 is in the third epoch (3 pairs)
        s = stream.sample(k)
        assert s["ir"].shape == s["near"].shape == (32, 32)
        assert np.array_equal(s["ir"], s["vis"])           # identical sources -> identical crops and flips
        assert np.array_equal(s["vis"], stream.sample(k)["vis"])
    crops = {stream.sample(k)["vis"].tobytes() for k in range(6)}
    assert len(crops) == 6
    other_seed = TrainingStream(folder, DataConfig(crop=32), seed=6).sample(0)
    assert not np.array_equal(other_seed["near"], stream.sample(0)["near"])
    b = stream.batch(4, 2)
    assert b["ir"].shape == (2, 1, 32, 32) and np.array_equal(b["far"][1, 0].numpy(), stream.sample(5)["far"])


def test_dark_regions_black_out_both_sources_alike(tmp_path):
    """`dark`: some samples get regions black in both crops (one mask for both, exactly 0 there, untouched where the
    mask is 1); the multi-focus pair follows the darkened visible; dark=0 leaves the stream exactly as it was."""
    rng = np.random.default_rng(0)
    for sub in ("ir", "vis"):                                        # no black pixel in the sources
        (tmp_path / sub).mkdir()
        for name in "abcd":
            Image.fromarray(rng.integers(50, 256, (80, 90), dtype=np.uint8)).save(tmp_path / sub / f"{name}.png")
    folder = PairedFolder(tmp_path, min_size=64)
    plain = TrainingStream(folder, DataConfig(crop=64), seed=3)
    off = TrainingStream(folder, DataConfig(crop=64, dark=0.0), seed=3)
    always = TrainingStream(folder, DataConfig(crop=64, dark=1.0), seed=3)
    half = TrainingStream(folder, DataConfig(crop=64, dark=0.5), seed=3)
    darkened = 0
    for k in range(12):
        p, d = plain.sample(k), always.sample(k)
        assert all(np.array_equal(p[key], off.sample(k)[key]) for key in p)
        black = (d["ir"] == 0) & (d["vis"] == 0)
        assert black.any() and not (p["ir"] == 0).any()
        assert np.array_equal(d["ir"] == 0, d["vis"] == 0)          # the same regions in both
        kept = d["ir"] == p["ir"]
        assert kept.any() and np.array_equal(d["vis"][kept], p["vis"][kept])   # one mask: 1 there in both
        assert (d["near"][black] < 0.5 * p["near"][black]).mean() > 0.9    # blur reaches a little way in only
        darkened += bool(((half.sample(k)["ir"] == 0)).any())
    assert 0 < darkened < 12
    assert np.array_equal(always.sample(5)["far"], always.sample(5)["far"])   # still deterministic


def test_restore_degrades_both_inputs_but_not_the_ground_truth(tmp_path):
    """`restore`: some samples' near and far are blurred and flattened everywhere, alike; the ground truth (`vis`), the
    infrared crop and the focus mask stay as they were, so the target is sharper and more contrasted than either
    input; restore=0 leaves the stream exactly as it was."""
    write_pairs(tmp_path, names=tuple("abcd"), size=(80, 90))
    folder = PairedFolder(tmp_path, min_size=64)
    plain = TrainingStream(folder, DataConfig(crop=64), seed=3)
    off = TrainingStream(folder, DataConfig(crop=64, restore=0.0), seed=3)
    always = TrainingStream(folder, DataConfig(crop=64, restore=1.0), seed=3)
    half = TrainingStream(folder, DataConfig(crop=64, restore=0.5), seed=3)

    def detail(x):                                                   # mean squared difference of neighbours
        return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=0) ** 2))

    degraded = 0
    for k in range(12):
        p, r = plain.sample(k), always.sample(k)
        assert all(np.array_equal(p[key], off.sample(k)[key]) for key in p)
        assert all(np.array_equal(p[key], r[key]) for key in ("ir", "vis", "mask"))
        for key in ("near", "far"):
            assert detail(r[key]) < 0.8 * detail(p[key]) and r[key].std() < p[key].std()
            assert abs(r[key].mean() - p[key].mean()) < 0.02           # flattened about the mean, not darkened
        h = half.sample(k)
        degraded += not np.array_equal(h["near"], p["near"])
    assert 0 < degraded < 12
    assert np.array_equal(always.sample(5)["far"], always.sample(5)["far"])   # still deterministic


def restore_streams(tmp_path, **degradation) -> tuple[TrainingStream, TrainingStream]:
    """Two streams of the same pairs and seed, every sample restored: default degradation, and `degradation`'s."""
    write_pairs(tmp_path, names=tuple("abcd"), size=(80, 90))
    folder = PairedFolder(tmp_path, min_size=64)
    return tuple(TrainingStream(folder, DataConfig(crop=64, restore=1.0, degradation=RestoreConfig(**d)), seed=3)
                 for d in ({}, degradation))


def test_restore_noise_is_independent_per_input_and_off_by_default(tmp_path):
    """`RestoreConfig.noise`: on top of the same blur and contrast draws, each input gets its own white noise of the
    drawn std; the default (no noise) draws nothing, so streams written before the option stay as they were."""
    clean, noisy = restore_streams(tmp_path, noise=(0.02, 0.02))
    for k in range(4):
        c, n = clean.sample(k), noisy.sample(k)
        assert np.array_equal(c["vis"], n["vis"]) and np.array_equal(c["ir"], n["ir"])
        dn, df = n["near"] - c["near"], n["far"] - c["far"]
        assert dn.std() == pytest.approx(0.02, rel=0.1) and df.std() == pytest.approx(0.02, rel=0.1)
        assert abs(np.corrcoef(dn.ravel(), df.ravel())[0, 1]) < 0.1      # independent noise per input


def test_restore_mix_is_a_partial_blur():
    """`RestoreConfig.mix`: the input is (1 - m) x + m blur(x) before the contrast: with m = 0.5 exactly halfway
    between the unblurred input (at the same contrast) and the fully blurred one; the default (1, 1) draws nothing."""
    sharp = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    full = degrade(sharp, sharp, sharp, np.random.default_rng(5), RestoreConfig(contrast=(1, 1)))
    half = degrade(sharp, sharp, sharp, np.random.default_rng(5), RestoreConfig(contrast=(1, 1), mix=(0.5, 0.5)))
    np.testing.assert_allclose(half[0], 0.5 * sharp + 0.5 * full[0], atol=1e-5)
    assert np.abs(np.diff(half[0])).mean() > np.abs(np.diff(full[0])).mean()       # more detail kept
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(sharp, sharp, sharp, used, RestoreConfig())
    fresh.uniform(), fresh.uniform()                      # the blur and contrast draws, nothing else
    assert used.random() == fresh.random()


def test_restore_edges_blurs_edges_and_hardly_flat_regions():
    """`RestoreConfig.edges`: the blur's share follows the sharp crop's local gradient (`edge_share`): near 1 along a
    step, small on a faint ramp, so the degraded input keeps the flat region and loses the edge; it draws nothing, so
    the rest of the stream is as without it."""
    x = np.tile(np.linspace(0.2, 0.25, 64, dtype=np.float32), (64, 1))      # a faint ramp: 0.2 grey levels per pixel
    x[:, 40:] += 0.5                                                           # and a step at column 40
    share = edge_share(x, 0.016)
    assert share[:, 38:42].min() > 0.8 and share[:, 4:28].max() < 0.1
    texture = x + 0.003 * np.sin(np.arange(64, dtype=np.float32))[None]     # faint fine texture everywhere
    cfg = RestoreConfig(blur=(1.5, 1.5), contrast=(1, 1))
    full = degrade(texture, texture, texture, np.random.default_rng(5), cfg)[0]
    edges = degrade(texture, texture, texture, np.random.default_rng(5), dataclasses.replace(cfg, edges=0.016))[0]
    flat, step = (slice(None), slice(4, 28)), (slice(None), slice(38, 42))
    assert np.abs(edges - texture)[flat].mean() < 0.2 * np.abs(full - texture)[flat].mean()   # texture kept
    assert np.abs(edges - texture)[step].mean() > 0.8 * np.abs(full - texture)[step].mean()   # edge blurred
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(texture, texture, texture, used, RestoreConfig(edges=0.016))
    fresh.uniform(), fresh.uniform()                      # the blur and contrast draws, nothing else
    assert used.random() == fresh.random()


def test_restore_contrast_scale_flattens_large_structures_only():
    """`RestoreConfig.contrast_scale`: only the Gaussian base of that sigma loses contrast: two flat halves move
    towards the mean alike, the fine texture on them keeps its amplitude (the whole-image contrast halves it too); it
    draws nothing, so the rest of the stream is as without it."""
    x = np.full((64, 64), 0.3, np.float32)
    x[:, 32:] = 0.7
    x += 0.01 * np.sin(2.5 * np.arange(64, dtype=np.float32))[None]          # fine texture on both halves
    cfg = RestoreConfig(blur=(0.3, 0.3), contrast=(0.5, 0.5))
    whole = degrade(x, x, x, np.random.default_rng(1), cfg)[0]
    base = degrade(x, x, x, np.random.default_rng(1), dataclasses.replace(cfg, contrast_scale=4.0))[0]

    def texture(y):                                      # high-pass RMS on the left half, away from the step
        return float((y - convolve(y, gaussian_kernel(2.0)))[:, 4:24].std())

    assert base[:, 4:24].mean() == pytest.approx(whole[:, 4:24].mean(), abs=0.01)           # the halves flattened
    assert base[:, 40:60].mean() == pytest.approx(whole[:, 40:60].mean(), abs=0.01)
    assert texture(base) > 1.6 * texture(whole)                                               # the texture not
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(x, x, x, used, RestoreConfig(contrast_scale=4.0))
    fresh.uniform(), fresh.uniform()                      # the blur and contrast draws, nothing else
    assert used.random() == fresh.random()


def test_restore_grain_blurs_the_noise_at_the_same_std(tmp_path):
    """`RestoreConfig.grain`: the noise is blurred (neighbouring pixels correlated) and rescaled to the drawn std; the
    default (white noise) draws nothing more, so noisy streams written before the option stay as they were."""
    clean, grainy = restore_streams(tmp_path, noise=(0.02, 0.02), grain=(1.0, 1.0))
    _, white = restore_streams(tmp_path, noise=(0.02, 0.02))
    for k in range(3):
        dg, dw = grainy.sample(k)["near"] - clean.sample(k)["near"], white.sample(k)["near"] - clean.sample(k)["near"]
        assert dg.std() == pytest.approx(0.02, rel=0.15) and dw.std() == pytest.approx(0.02, rel=0.1)
        assert np.corrcoef(dg[:, 1:].ravel(), dg[:, :-1].ravel())[0, 1] > 0.5          # neighbours alike
        assert abs(np.corrcoef(dw[:, 1:].ravel(), dw[:, :-1].ravel())[0, 1]) < 0.1
    sharp = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(sharp, sharp, sharp, used, RestoreConfig(noise=(0.01, 0.02)))
    fresh.uniform(), fresh.uniform(), fresh.uniform()     # blur, contrast, noise std
    fresh.standard_normal((32, 32)), fresh.standard_normal((32, 32))
    assert used.random() == fresh.random()


@pytest.mark.parametrize("name, value, darken", [("gamma", 1.5, lambda x: np.clip(x, 0, 1) ** 1.5),
                                                  ("gain", 0.7, lambda x: x * 0.7),
                                                  ("knee", 0.6, lambda x: np.where(x > 0.5, 0.5 + 0.6 * (x - 0.5), x))])
def test_restore_tone_darkens_both_inputs_alike_and_is_off_by_default(tmp_path, name, value, darken):
    """`RestoreConfig.gamma`, `.gain` and `.knee`: after the same blur and contrast draws, both inputs are raised to
    one power (> 1: darker), multiplied by one gain (< 1: darker) or compressed above the knee level (0.5 by default;
    below it unchanged) and the ground truth stays; the default (1, 1) draws nothing from the generator."""
    plain, dark = restore_streams(tmp_path, **{name: (value, value)})
    for k in range(3):
        p, d = plain.sample(k), dark.sample(k)
        assert np.array_equal(p["vis"], d["vis"]) and np.array_equal(p["ir"], d["ir"])
        for key in ("near", "far"):
            np.testing.assert_allclose(d[key], darken(p[key]), atol=1e-6)
            assert d[key].mean() < p[key].mean()
    sharp = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(sharp, sharp, sharp, used, RestoreConfig())
    fresh.uniform(), fresh.uniform()                      # the blur and contrast draws, nothing else
    assert used.random() == fresh.random()


def test_restore_exposure_brightens_one_input_and_darkens_the_other(tmp_path):
    """`RestoreConfig.exposure`: after the same blur and contrast draws, one input is multiplied by 2**e and the other
    by 2**-e (which one at random), both clipped to [0, 1]; the ground truth stays."""
    plain, exposed = restore_streams(tmp_path, exposure=(1.0, 1.0))
    brighter = []
    for k in range(6):
        p, e = plain.sample(k), exposed.sample(k)
        assert np.array_equal(p["vis"], e["vis"])
        up = e["near"].mean() > p["near"].mean()
        brighter.append(up)
        np.testing.assert_allclose(e["near"], np.clip(p["near"] * (2.0 if up else 0.5), 0, 1), atol=1e-6)
        np.testing.assert_allclose(e["far"], np.clip(p["far"] * (0.5 if up else 2.0), 0, 1), atol=1e-6)
    assert any(brighter) and not all(brighter)


def test_restore_exposure_share_exposes_only_some_samples(tmp_path):
    """`RestoreConfig.exposed`: with a share below 1, some degraded samples are exposed apart and the others keep the
    same brightness in both inputs; share 1 (the default) draws nothing more than before the option."""
    plain, some = restore_streams(tmp_path, exposure=(1.0, 1.0), exposed=0.5)
    moved = []
    for k in range(12):
        n_plain, n_some = plain.sample(k)["near"], some.sample(k)["near"]
        assert np.array_equal(plain.sample(k)["vis"], some.sample(k)["vis"])
        moved.append(abs(float(n_some.mean()) - float(n_plain.mean())) > 1e-3)
    assert any(moved) and not all(moved)
    sharp = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    used, fresh = np.random.default_rng(7), np.random.default_rng(7)
    degrade(sharp, sharp, sharp, used, RestoreConfig(exposure=(1.0, 1.0)))
    fresh.uniform(), fresh.uniform(), fresh.uniform(), fresh.random()   # blur, contrast, stops, which input: no more
    assert used.random() == fresh.random()


def test_every_image_is_visited_once_per_epoch(tmp_path):
    write_pairs(tmp_path, names=tuple("abcde"), same=True, size=(32, 32))
    folder = PairedFolder(tmp_path, min_size=32)
    stream = TrainingStream(folder, DataConfig(crop=32, flips=False), seed=0)
    images = [folder[i][1].tobytes() for i in range(5)]
    for epoch in range(2):
        seen = sorted(images.index(stream.sample(epoch * 5 + j)["ir"].tobytes()) for j in range(5))
        assert seen == [0, 1, 2, 3, 4]


def test_roadscene_pairs(shared):
    root = shared / "datasets/train/roadscene"
    pairs = find_pairs(root)
    assert len(pairs) == 221
    a, b = load_pair(*pairs[0])
    assert a.shape == b.shape and min(a.shape) >= 128
