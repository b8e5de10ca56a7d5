"""Fusion metrics: agreement with the VIFB benchmark's and Linfeng Tang's toolbox's own values (../shared), closed
forms on synthetic images, and properties (identical inputs, bounds, source symmetry, degenerate inputs) for all 20
metrics."""
from __future__ import annotations

import csv
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gifnet.metrics as M
from gifnet.errors import GifnetError
from gifnet.image import luma, write_image
from gifnet.metrics import CONVENTIONS, METRICS, TANG_NAMES, VIFB_NAMES, measure, prepare, resolve

TWO_SOURCE = ["mi", "fmi", "scd", "vif", "qabf", "nabf", "ssim", "ms_ssim", "cc", "psnr", "rmse", "mse", "ce", "qcb",
              "qcv"]
SINGLE = ["en", "sd", "sf", "ag", "ei"]
# (low, high) bounds every value must respect on ordinary images
BOUNDS = {"en": (0, 8), "sd": (0, 127.5), "sf": (0, 255 * math.sqrt(2)), "ag": (0, 300), "mi": (0, 2 * math.log(256)),
          "fmi": (0, 1), "scd": (-2, 2), "vif": (0, 2.5), "qabf": (0, 0.9754), "nabf": (0, 1), "ssim": (-2, 2),
          "ms_ssim": (0, 2), "cc": (-1, 1), "psnr": (0, 300), "rmse": (0, 255), "mse": (0, 255 ** 2), "ce": (-1, 16),
          "ei": (0, 4 * 255 * math.sqrt(2)), "qcb": (0, 1), "qcv": (0, 255 ** 2)}


def scene(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth textured uint8 test image with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 128 + 60 * np.sin(x / (5 + seed) + seed) * np.cos(y / (7 + seed)) + rng.normal(0, 12, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trio():
    a = scene(seed=1)                                                      # grey, like an infrared image
    b = np.stack([scene(seed=s) for s in (2, 3, 4)], axis=-1)              # colour, like a visible image
    f = ((a[..., None].astype(np.float32) + b) / 2).round().astype(np.uint8)
    return f, a, b


@pytest.fixture(scope="module")
def trio_scores(trio):
    return measure(*trio)


def psnr_cap(h: int, w: int) -> float:
    return 10 * math.log10(255 ** 2 * 2 * h * w)


# ------------------------------------------------------------------------------------------------ VIFB golden
def within(gold: float, ours: float) -> bool:
    """The acceptance tolerance: 0.5 % relative, or 1e-3 absolute when |gold| < 0.1."""
    return abs(ours - gold) <= (0.005 * abs(gold) if abs(gold) >= 0.1 else 1e-3)


def golden_table(shared) -> dict[tuple[str, str], dict[str, float]]:
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(shared / "metrics/vifb/golden.csv", newline="") as f:
        for row in csv.DictReader(f):
            table[(row["image"], row["method"])][VIFB_NAMES[row["metric"]]] = float(row["value"])
    return table


def score_golden(shared, keys) -> dict[str, list[tuple[float, float]]]:
    """{metric: [(gold, ours), ...]} for the given (image, method) rows, each image decoded once."""
    table = golden_table(shared)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    names = sorted(set(VIFB_NAMES.values()))
    for image, method in keys:
        ours = measure(shared / f"metrics/vifb/fused/{image}_{method}.jpg",
                        shared / f"datasets/eval/vifb/ir/{image}.jpg", shared / f"datasets/eval/vifb/vis/{image}.jpg",
                        metrics=names)
        for m in names:
            out[m].append((table[(image, method)][m], ours[m]))
    return out


def assert_share(results: dict[str, list[tuple[float, float]]], share: float = 0.95) -> None:
    assert len(results) == 13
    for m, pairs in results.items():
        ok = sum(within(g, o) for g, o in pairs) / len(pairs)
        worst = max(pairs, key=lambda p: abs(p[1] - p[0]) / max(abs(p[0]), 1e-12))
        assert ok >= share, f"{m}: only {ok:.1%} of {len(pairs)} rows within tolerance (e.g. gold {worst[0]}, " \
                            f"ours {worst[1]:.6g})"


@pytest.fixture(scope="module")
def golden_third(shared):
    """Every third row of the golden table in (image, method) order: 91 of the 273, every image and every method
    represented (the full table is scored by benchmarks/metrics_vs_vifb.py; its result is in BENCHMARKS.md)."""
    return score_golden(shared, sorted(golden_table(shared))[::3])


def test_golden_sample_matches_vifb(shared):
    """One result per VIFB image (the 13 methods in turn): every metric within tolerance (fast version)."""
    keys = sorted(golden_table(shared))
    images = sorted({k[0] for k in keys})
    methods = sorted({k[1] for k in keys})
    sample = [(img, methods[i % len(methods)]) for i, img in enumerate(images)]
    assert_share(score_golden(shared, sample), share=1.0)


@pytest.mark.slow
def test_golden_rows_match_vifb(golden_third):
    """A third of the 21 images x 13 methods: >= 95 % of rows within tolerance for each of the 13 metrics."""
    assert sum(len(v) for v in golden_third.values()) == 13 * 91
    assert_share(golden_third)


# ------------------------------------------------------------------------------------- Tang's toolbox golden
TANG_2023 = {"sd", "vif", "sf", "qabf"}     # what the toolbox's 2023-03-03 changes reach


def tang_golden(shared) -> dict[tuple[str, str], dict[str, float]]:
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(shared / "metrics/tang/golden.csv", newline="") as f:
        for row in csv.DictReader(f):
            table[(row["image"], row["method"])][TANG_NAMES[row["metric"]]] = float(row["value"])
    return table


def tang_row(shared, image: str, method: str):
    root = shared / "metrics/tang"
    return prepare(root / f"fused/{method}/{image}.png", root / f"sources/ir/{image}.png",
                   root / f"sources/vi/{image}.png")


def test_tang2022_matches_the_toolbox_on_a_sample(shared):
    """One result per TNO image (the three methods in turn, so a third are SeAFusion's colour results): all 11 of
    the toolbox's metrics within tolerance of its published values (the full table: benchmarks/metrics_vs_tang.py)."""
    table = tang_golden(shared)
    assert len(table) == 126 and all(len(v) == 11 for v in table.values())
    methods = sorted({k[1] for k in table})
    images = sorted({k[0] for k in table})
    results: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for i, image in enumerate(images):
        method = methods[i % len(methods)]
        ours = measure(tang_row(shared, image, method), metrics=list(TANG_NAMES), convention="tang2022")
        for m, g in table[(image, method)].items():
            results[m].append((g, ours[m]))
    assert len(results) == 11
    for m, pairs in results.items():
        bad = [(g, o) for g, o in pairs if not within(g, o)]
        assert not bad, f"{m}: {len(bad)} of {len(pairs)} rows off the toolbox's values, e.g. {bad[0]}"


def test_tang_equals_tang2022_except_where_the_2023_changes_reach(shared, trio):
    for case in (tang_row(shared, "07", "SeAFusion"), prepare(*trio)):
        new, old = measure(case, convention="tang"), measure(case, convention="tang2022")
        assert {m for m in METRICS if new[m] != old[m]} == TANG_2023


def test_tang_conventions_relate_as_documented(shared):
    p = tang_row(shared, "07", "SeAFusion")              # a colour result: the toolbox scores its rgb2gray plane
    grey = M._toolbox(p)
    assert grey.f.shape == (1, *p.shape) and np.array_equal(grey.f, np.round(grey.f))
    g = (grey.f[0].astype(np.uint8), grey.a[0].astype(np.uint8), grey.b[0].astype(np.uint8))
    new, old = measure(p, convention="tang"), measure(p, convention="tang2022")
    vifb, paper = measure(*g), measure(*g, convention="paper")
    assert new["sd"] == pytest.approx(vifb["sd"], rel=1e-12) and old["sd"] < new["sd"] / 2
    assert new["vif"] == pytest.approx(vifb["vif"], rel=1e-12) and old["vif"] != pytest.approx(new["vif"], rel=0.01)
    assert new["qabf"] == pytest.approx(vifb["qabf"], rel=1e-9)         # on 0..255 integers: the textbook Qabf
    assert new["sf"] == pytest.approx(255 * old["sf"], rel=1e-12)
    assert new["psnr"] == pytest.approx(paper["psnr"] + 20 * math.log10(255), rel=1e-12)
    assert new["mse"] == pytest.approx(paper["mse"] / 255 ** 2, rel=1e-12)
    for m in ("en", "ag", "cc", "scd"):
        assert new[m] == pytest.approx(vifb[m], rel=1e-12), m
    for m in ("ssim", "ms_ssim", "rmse", "qcb", "qcv", "fmi", "nabf", "ce", "ei"):   # outside the toolbox's 11
        assert new[m] == pytest.approx(paper[m], rel=1e-9), m


def test_tang_scores_the_rgb2gray_plane(trio):
    f, a, b = trio                                        # colour result, grey and colour sources
    assert M.RGB2GRAY == pytest.approx([0.2989, 0.5870, 0.1140], abs=1e-4)

    def rgb2gray(x: np.ndarray) -> np.ndarray:
        return x if x.ndim == 2 else np.floor(x.astype(np.float64) @ M.RGB2GRAY + 0.5).astype(np.uint8)
    for conv in ("tang", "tang2022"):
        assert measure(f, a, b, convention=conv) == pytest.approx(
            measure(rgb2gray(f), a, rgb2gray(b), convention=conv), rel=1e-12), conv
    g = f[..., 0]
    assert measure(np.stack([g] * 3, -1), a, a, convention="tang") == measure(g, a, a, convention="tang")


def test_tang2022_sd_saturates():
    img = np.zeros((20, 20), np.uint8)
    img[:, 10:] = 255
    # mean 127.5: uint8(0 - 127.5) = 0, uint8(255 - 127.5) = 128, whose square saturates at 255
    assert M.sd(img, img, img, convention="tang2022") == pytest.approx(math.sqrt(255 / 2))
    assert M.sd(img, img, img, convention="tang") == pytest.approx(127.5)
    small = np.tile(np.array([100, 102], np.uint8), (20, 10))       # deviations of -1 (clipped to 0) and +1
    assert M.sd(small, small, small, convention="tang2022") == pytest.approx(math.sqrt(1 / 2))


def test_tang_mi_merges_levels_254_and_255():
    img = (np.indices((20, 20)).sum(0) % 2 + 254).astype(np.uint8)   # a checkerboard of 254 and 255
    assert M.mi(img, img, img, convention="paper") == pytest.approx(2.0)    # 1 bit per source
    assert M.mi(img, img, img, convention="tang2022") == pytest.approx(4.0)   # joint entropy 0: H(X) + H(F) each
    low = img - 100
    assert M.mi(low, low, low, convention="tang") == pytest.approx(2.0)


def test_tang_sf_divides_each_difference_by_its_own_count():
    img = np.tile(np.array([0, 100], np.uint8), (20, 12))          # 20 x 24 vertical stripes of width 1
    assert M.sf(img, img, img, convention="tang") == pytest.approx(100.0)          # 23 of 23 differences per row
    assert M.sf(img, img, img, convention="tang2022") == pytest.approx(100 / 255)
    assert M.sf(img, img, img) == pytest.approx(100 * math.sqrt(23 / 24))          # VIFB: over all M N


def test_tang2022_vif_saturates_only_bright_products():
    dark = [scene(seed=s) // 20 for s in (1, 2, 3)]                  # levels <= 12: every product <= 144
    assert M.vif(*dark, convention="tang2022") == M.vif(*dark, convention="tang")
    bright = [scene(seed=s) for s in (1, 2, 3)]
    assert M.vif(*bright, convention="tang2022") != pytest.approx(M.vif(*bright, convention="tang"), rel=0.01)


def test_tang2022_qabf_keeps_matlabs_rounding_residues():
    """On [0, 1] data a Sobel response that is exactly 0 on integers can come out as a rounding residue, which
    turns the orientation pi/2 into -pi/2 here; the golden test pins which residues MATLAB's conv2 order leaves."""
    x = np.array([[[171.0, 86, 146], [38, 220, 115], [229, 203, 100]]])     # columns weigh (1, 2, 1) to 704 each
    assert M._conv2_same(x, M._TOOLBOX_SOBEL_X)[0, 1, 1] == 0
    gx, gy = (M._conv2_same(x / 255, h)[0, 1, 1] for h in (M._TOOLBOX_SOBEL_X, M._TOOLBOX_SOBEL_Y))
    assert gx != 0 and abs(gx) < 1e-15
    assert M._orientation(gx, gy, math.pi / 2) == pytest.approx(-math.pi / 2)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 12, 14)).astype(np.float64)
    pad = np.pad(img[0], 1)
    for h in (M._TOOLBOX_SOBEL_X, M._TOOLBOX_SOBEL_Y):          # conv2 'same' = correlation with the flipped kernel
        flipped = h[::-1, ::-1]
        ref = sum(flipped[i, j] * pad[i:i + 12, j:j + 14] for i in range(3) for j in range(3))
        assert np.array_equal(M._conv2_same(img, h)[0], ref)


@pytest.mark.parametrize("convention", ["tang", "tang2022"])
def test_tang_degenerate_inputs_stay_finite(convention):
    rng = np.random.default_rng(3)
    for f, a, b in [(np.full((20, 24), v, np.uint8),) * 3 for v in (0, 255)] + [
            tuple(rng.integers(0, 256, (17, 19, 3), dtype=np.uint8) for _ in range(3))]:
        got = measure(f, a, b, convention=convention)
        assert all(math.isfinite(v) for v in got.values()), got


def test_conventions_are_listed_with_a_description():
    assert list(CONVENTIONS) == ["vifb", "paper", "tang", "tang2022"]
    with pytest.raises(GifnetError, match="'tang2022' .*2022"):
        measure(*[scene()] * 3, metrics=["en"], convention="Tang")


# ---------------------------------------------------------------------------------------------- table, API
def test_table_has_20_metrics_with_directions():
    assert list(METRICS) == ["en", "sd", "sf", "ag", "mi", "fmi", "scd", "vif", "qabf", "nabf", "ssim", "ms_ssim",
                             "cc", "psnr", "rmse", "mse", "ce", "ei", "qcb", "qcv"]
    lower = {m for m, (fn, higher) in METRICS.items() if not higher}
    assert lower == {"nabf", "rmse", "mse", "ce", "qcv"}
    for name, (fn, _) in METRICS.items():
        assert fn.__name__ == name and len(fn.__doc__) > 200, name
        assert '"tang' in fn.__doc__, f"{name}: the docstring must say what the tang conventions compute"


def test_evaluate_returns_all_finite(trio_scores):
    assert list(trio_scores) == list(METRICS)
    assert all(math.isfinite(v) for v in trio_scores.values())


def test_resolve_names():
    assert resolve(["Mutinf", "SSIM", "ms-ssim"]) == ["mi", "ssim", "ms_ssim"]
    assert resolve("qcv, en") == ["en", "qcv"]
    assert resolve(list(TANG_NAMES)) == [m for m in METRICS if m in TANG_NAMES.values()] and len(TANG_NAMES) == 11
    with pytest.raises(GifnetError, match="unknown metric 'bogus'"):
        resolve(["bogus"])


def test_bad_inputs(trio, tmp_path):
    f, a, b = trio
    with pytest.raises(GifnetError, match="unknown metric convention"):
        measure(f, a, b, metrics=["sf"], convention="matlab")
    small = a[:40]
    path = write_image(small, tmp_path / "small_a.png")
    with pytest.raises(GifnetError, match=r"small_a\.png is 80x40 but the fused image .* is 80x64"):
        measure(f, path, b)
    with pytest.raises(GifnetError, match="at least 16x16"):
        measure(f[:8, :8], a[:8, :8], b[:8, :8])
    with pytest.raises(GifnetError, match="both sources"):
        M.ssim(f)


def test_paths_and_arrays_agree(trio, tmp_path):
    f, a, b = trio
    paths = [write_image(x, tmp_path / f"{n}.png") for n, x in zip("fab", trio)]
    assert measure(*paths, metrics=["qabf", "mi", "ssim"]) == measure(f, a, b, metrics=["qabf", "mi", "ssim"])


def test_float_inputs_match_uint8(trio):
    f, a, b = trio
    as_float = [x.astype(np.float32) / 255 for x in trio]
    names = ["en", "mi", "ssim", "qabf"]
    ours, ref = measure(*as_float, metrics=names), measure(f, a, b, metrics=names)
    for m in ours:
        assert ours[m] == pytest.approx(ref[m], rel=1e-5), m


# ------------------------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("name", list(METRICS))
def test_bounds(name, trio_scores):
    lo, hi = BOUNDS[name]
    assert lo <= trio_scores[name] <= hi


@pytest.mark.parametrize("name", TWO_SOURCE)
def test_symmetric_in_the_two_sources(name, trio):
    f, a, b = trio
    fn = METRICS[name].fn
    assert fn(f, a, b) == pytest.approx(fn(f, b, a), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", SINGLE)
def test_single_image_metrics_ignore_the_sources(name, trio):
    f, a, b = trio
    fn = METRICS[name].fn
    assert fn(f, a, b) == fn(f, b[..., ::-1], np.zeros_like(b))


def test_identical_inputs():
    a = scene(seed=5)
    got = measure(a, a, a)
    levels = np.bincount(a.ravel(), minlength=256) / a.size
    h = -sum(p * math.log(p) for p in levels if p > 0)
    expected = {"mi": 2 * h, "fmi": 1.0, "scd": 0.0, "vif": 2.0, "nabf": 0.0, "ssim": 2.0, "ms_ssim": 2.0, "cc": 1.0,
                "psnr": psnr_cap(*a.shape), "rmse": 0.0, "mse": 0.0, "ce": 0.0, "qcb": 1.0, "qcv": 0.0}
    for m, v in expected.items():
        assert got[m] == pytest.approx(v, abs=1e-9), m
    # Qabf's sigmoids top out at Tg * Ta / ((1 + e^-7.5) (1 + e^-4.4)) for perfectly preserved edges
    top = 0.9994 * 0.9879 / (1 + math.exp(-4.4))
    assert top * 0.9994 < got["qabf"] <= top
    paper = measure(a, a, a, metrics=["ssim", "ms_ssim"], convention="paper")
    assert paper == pytest.approx({"ssim": 1.0, "ms_ssim": 1.0})


@pytest.mark.parametrize("value", [0, 128])
def test_constant_images_give_documented_values(value):
    c = np.full((32, 40), value, np.uint8)
    got = measure(c, c, c)
    assert all(math.isfinite(v) for v in got.values())
    expected = {"en": 0, "sd": 0, "sf": 0, "ag": 0, "ei": 0, "mi": 0, "fmi": 1, "scd": 0, "vif": 0, "nabf": 0,
                "ssim": 2, "ms_ssim": 2, "cc": 0, "psnr": psnr_cap(32, 40), "rmse": 0, "mse": 0, "ce": 0, "qcb": 1,
                "qcv": 0}
    assert {m: got[m] for m in expected} == pytest.approx(expected)
    # zero padding makes the frame of a non-black constant image an edge, preserved perfectly; black has none
    assert got["qabf"] == (0.0 if value == 0 else pytest.approx(0.9753, abs=2e-4))
    assert str(got["en"]) == "0.0"


def test_constant_fused_image_with_real_sources():
    a, b = scene(seed=1), scene(seed=2)
    got = measure(np.full_like(a, 90), a, b)
    assert all(math.isfinite(v) for v in got.values())
    assert got["en"] == got["sd"] == got["mi"] == got["cc"] == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31), h=st.integers(16, 40), w=st.integers(16, 40), colour=st.booleans())
def test_random_images_stay_finite_and_bounded(seed, h, w, colour):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if colour else (h, w)
    f, a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3))
    a[: h // 2] = rng.integers(0, 256)                                           # partly flat
    for name, value in measure(f, a, b).items():
        lo, hi = BOUNDS[name]
        assert math.isfinite(value) and lo - 1e-9 <= value <= hi + 1e-9, (name, value)


# ------------------------------------------------------------------------------------------------ closed forms
def test_entropy_of_four_equal_levels_is_two_bits():
    img = np.repeat(np.array([0, 50, 100, 200], np.uint8), 100).reshape(20, 20)
    assert M.en(img, img, img) == pytest.approx(2.0)


def test_sd_of_half_black_half_white():
    img = np.zeros((20, 20), np.uint8)
    img[:, 10:] = 255
    assert M.sd(img, img, img) == pytest.approx(127.5)


def test_sf_of_stripes_and_vifb_channel_seams():
    img = np.tile(np.array([0, 100], np.uint8), (20, 12))            # 20 x 24 vertical stripes of width 1
    assert M.sf(img, img, img) == pytest.approx(100 * math.sqrt(23 / 24))
    rgb = np.zeros((20, 24, 3), np.uint8) + np.array([10, 40, 100], np.uint8)   # three flat channels
    # VIFB lays the channels side by side (20 x 72): only the two seams between them count
    assert M.sf(rgb, rgb, rgb) == pytest.approx(math.sqrt((30 ** 2 + 60 ** 2) / 72))
    assert M.sf(rgb, rgb, rgb, convention="paper") == 0.0


def test_ag_of_a_ramp():
    img = (np.arange(30, dtype=np.uint8) * 3)[None].repeat(20, 0)      # 20 x 30, +3 per column
    assert M.ag(img, img, img) == pytest.approx(20 * 30 * 3 / math.sqrt(2) / (19 * 29))


def test_ei_of_a_step_edge():
    img = np.zeros((20, 20), np.uint8)
    img[:, 10:] = 100
    # Sobel x is 4 * 100 on the two columns beside the step, 0 elsewhere (replicated border: no frame edges)
    assert M.ei(img, img, img) == pytest.approx(2 * 400 / 20)


def test_mi_of_a_checkerboard_and_units():
    img = (np.indices((20, 20)).sum(0) % 2 * 255).astype(np.uint8)
    assert M.mi(img, img, img) == pytest.approx(2 * math.log(2))      # nats, VIFB
    assert M.mi(img, img, img, convention="paper") == pytest.approx(2.0)   # bits


def test_ce_is_zero_for_equal_histograms_and_skips_empty_levels():
    a = scene(seed=3)
    assert M.ce(a, a, np.flipud(a)) == pytest.approx(0.0, abs=1e-12)
    half = np.zeros((20, 20), np.uint8)
    half[10:] = 255
    # F has only level 0: CE(X, F) = 0.5 log2(0.5 / 1) for both sources
    assert M.ce(np.zeros_like(half), half, half) == pytest.approx(-0.5)


def test_rmse_and_psnr_of_a_constant_offset():
    a = scene(seed=4) // 2
    f = a + 10
    h, w = a.shape
    assert M.rmse(f, a, f, convention="paper") == pytest.approx(5.0)
    assert M.rmse(f, a, f) == pytest.approx(10 * math.sqrt(h * w) / (2 * h * w))      # VIFB: root over M N again
    assert M.psnr(f, a, f, convention="paper") == pytest.approx(10 * math.log10(255 ** 2 / 50))
    assert M.psnr(f, a, f) == pytest.approx(10 * math.log10(255 ** 2 / M.rmse(f, a, f)))


def test_conventions_relate_as_documented(trio):
    f, a, b = trio
    h, w = a.shape
    assert M.rmse(f, a, b) == pytest.approx(M.rmse(f, a, b, convention="paper") / math.sqrt(h * w))
    assert M.mi(f, a, b) == pytest.approx(M.mi(f, a, b, convention="paper") * math.log(2))
    assert M.ssim(f, a, b) == pytest.approx(2 * M.ssim(f, a, b, convention="paper"))
    assert M.sf(a, a, a) == pytest.approx(M.sf(a, a, a, convention="paper"))
    assert M.qcv(f, a, b) != M.qcv(f, a, b, convention="paper")    # VIFB stretches each image to 0..255 first


def test_cc_and_scd_extremes():
    a = scene(seed=6) // 3
    assert M.cc(a, a, 255 - a) == pytest.approx(0.0, abs=1e-12)         # r = 1 and r = -1
    b = scene(seed=7) // 3
    assert M.scd(a + b, a, b) == pytest.approx(2.0)                      # F - B = A and F - A = B


def test_qabf_penalises_lost_edges():
    a, b = scene(seed=8), scene(seed=9)
    good = ((a.astype(np.float32) + b) / 2).astype(np.uint8)
    flat = np.full_like(a, 128)
    assert M.qabf(good, a, b) > 0.3 > M.qabf(flat, a, b)


def test_colour_is_scored_per_channel(trio):
    f, a, b = trio
    for name in ("ssim", "qabf", "mi", "qcb"):
        fn = METRICS[name].fn
        per = np.mean([fn(f[..., c], a, b[..., c]) for c in range(3)])
        assert fn(f, a, b) == pytest.approx(per, rel=1e-9), name


def test_fmi_scores_luma_by_default(trio):
    f, a, b = trio
    y = [luma(x.astype(np.float32) / 255) if x.ndim == 3 else x for x in trio]
    assert M.fmi(f, a, b) == pytest.approx(M.fmi(*y), rel=1e-6)
    per = np.mean([M.fmi(f[..., c], a, b[..., c]) for c in range(3)])
    assert M.fmi(f, a, b, colour="channels") == pytest.approx(per, rel=1e-9)
    with pytest.raises(GifnetError, match="colour='rgb'"):
        M.fmi(f, a, b, colour="rgb")


def test_fmi_flat_patches():
    """Identical patches score 1; two different flat patches share no information (0), whatever the rounding."""
    flat = np.full((20, 20), 2.964 / 255, np.float32)
    assert M.fmi(flat, flat, flat) == 1.0
    assert M.fmi(flat * 5.2, flat, flat) == 0.0


def test_fmi_in_chunks_equals_fmi_at_once(trio, monkeypatch):
    whole = M.fmi(*trio, colour="channels")
    monkeypatch.setattr(M, "_FMI_CHUNK", 100)          # bands of 1-2 rows of neighbourhoods
    assert M.fmi(*trio, colour="channels") == pytest.approx(whole, rel=1e-9)


def test_threads_do_not_change_results(trio):
    assert measure(*trio, threads=2) == measure(*trio, threads=1)


def test_grey_result_with_colour_source_uses_luma(trio):
    f, a, b = trio
    grey = luma(f.astype(np.float32) / 255)
    assert M.ssim(grey, a, b) == pytest.approx(M.ssim(grey, a, luma(b.astype(np.float32) / 255)), rel=1e-12)


def test_prepared_input_is_reused(trio):
    p = prepare(*trio)
    assert M.ssim(p) == M.ssim(*trio)
    assert M.ms_ssim(p) == M.ms_ssim(*trio)
    assert "ssim" in p.cache


def test_fft_filter_matches_direct_filtering():
    rng = np.random.default_rng(0)
    x = rng.random((2, 23, 31))
    k = rng.random((5, 5))
    pad = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    direct = sum(k[i, j] * pad[:, i:i + 23, j:j + 31] for i in range(5) for j in range(5))
    assert np.allclose(M._fft_filter(x, [k])[0], direct, atol=1e-12)
    assert np.allclose(M._fft_filter(x, [k], "valid")[0], direct[:, 2:-2, 2:-2], atol=1e-12)


def test_fmi_coupling_matches_the_full_joint_distribution():
    """The staircase shortcut in _fmi_patches equals summing over the full k x k joint distribution."""
    rng = np.random.default_rng(1)
    px = rng.integers(0, 256, (200, 9)).astype(np.float32)
    py = (0.6 * px + rng.integers(0, 100, (200, 9))).astype(np.float32)
    py[::7] = 300 - px[::7]                                              # some negatively correlated pairs
    ps, pf = M._patch_stats(px.T), M._patch_stats(py.T)                  # patches are columns
    ours = M._fmi_patches(ps, pf, np.zeros(200, bool))
    ref = []
    for p, q, x, y in zip(ps[0].T.astype(np.float64), pf[0].T.astype(np.float64), px, py):
        r = np.corrcoef(x, y)[0, 1]
        if r < 0:
            q = q[::-1]
        cp, cq = np.cumsum(p), np.cumsum(q)
        upper = np.minimum(cp[:, None], cq[None, :])
        coupling = np.diff(np.diff(np.pad(upper, ((1, 0), (1, 0))), axis=0), axis=1)
        joint = abs(r) * coupling + (1 - abs(r)) * np.outer(p, q)
        nz = joint > 1e-15
        info = (joint[nz] * np.log(joint[nz] / np.outer(p, q)[nz])).sum()
        ent = -(p[p > 0] * np.log(p[p > 0])).sum() - (q[q > 0] * np.log(q[q > 0])).sum()
        ref.append(np.clip(2 * info / ent, 0, 1))
    assert ours == pytest.approx(np.mean(ref), rel=1e-4)
