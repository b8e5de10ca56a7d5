"""Fusion metrics: agreement with the VIFB benchmark's own values (../shared), closed forms on synthetic images,
and properties (identical inputs, bounds, source symmetry, degenerate inputs) for all 19 metrics."""
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
from gifnet.metrics import METRICS, VIFB_NAMES, evaluate, prepare, resolve

TWO_SOURCE = ["mi", "fmi", "scd", "vif", "qabf", "nabf", "ssim", "ms_ssim", "cc", "psnr", "rmse", "ce", "qcb", "qcv"]
SINGLE = ["en", "sd", "sf", "ag", "ei"]
# (low, high) bounds every value must respect on ordinary images
BOUNDS = {"en": (0, 8), "sd": (0, 127.5), "sf": (0, 255 * math.sqrt(2)), "ag": (0, 300), "mi": (0, 2 * math.log(256)),
          "fmi": (0, 1), "scd": (-2, 2), "vif": (0, 2.5), "qabf": (0, 0.9754), "nabf": (0, 1), "ssim": (-2, 2),
          "ms_ssim": (0, 2), "cc": (-1, 1), "psnr": (0, 300), "rmse": (0, 255), "ce": (-1, 16),
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
    return evaluate(*trio)


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
        ours = evaluate(shared / f"metrics/vifb/fused/{image}_{method}.jpg",
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


# ---------------------------------------------------------------------------------------------- table, API
def test_table_has_19_metrics_with_directions():
    assert list(METRICS) == ["en", "sd", "sf", "ag", "mi", "fmi", "scd", "vif", "qabf", "nabf", "ssim", "ms_ssim",
                             "cc", "psnr", "rmse", "ce", "ei", "qcb", "qcv"]
    lower = {m for m, (fn, higher) in METRICS.items() if not higher}
    assert lower == {"nabf", "rmse", "ce", "qcv"}
    for name, (fn, _) in METRICS.items():
        assert fn.__name__ == name and len(fn.__doc__) > 200, name


def test_evaluate_returns_all_finite(trio_scores):
    assert list(trio_scores) == list(METRICS)
    assert all(math.isfinite(v) for v in trio_scores.values())


def test_resolve_names():
    assert resolve(["Mutinf", "SSIM", "ms-ssim"]) == ["mi", "ssim", "ms_ssim"]
    assert resolve("qcv, en") == ["en", "qcv"]
    with pytest.raises(GifnetError, match="unknown metric 'bogus'"):
        resolve(["bogus"])


def test_bad_inputs(trio, tmp_path):
    f, a, b = trio
    with pytest.raises(GifnetError, match="unknown metric convention"):
        evaluate(f, a, b, metrics=["sf"], convention="matlab")
    small = a[:40]
    path = write_image(small, tmp_path / "small_a.png")
    with pytest.raises(GifnetError, match=r"small_a\.png is 80x40 but the fused image .* is 80x64"):
        evaluate(f, path, b)
    with pytest.raises(GifnetError, match="at least 16x16"):
        evaluate(f[:8, :8], a[:8, :8], b[:8, :8])
    with pytest.raises(GifnetError, match="both sources"):
        M.ssim(f)


def test_paths_and_arrays_agree(trio, tmp_path):
    f, a, b = trio
    paths = [write_image(x, tmp_path / f"{n}.png") for n, x in zip("fab", trio)]
    assert evaluate(*paths, metrics=["qabf", "mi", "ssim"]) == evaluate(f, a, b, metrics=["qabf", "mi", "ssim"])


def test_float_inputs_match_uint8(trio):
    f, a, b = trio
    as_float = [x.astype(np.float32) / 255 for x in trio]
    names = ["en", "mi", "ssim", "qabf"]
    ours, ref = evaluate(*as_float, metrics=names), evaluate(f, a, b, metrics=names)
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
    got = evaluate(a, a, a)
    levels = np.bincount(a.ravel(), minlength=256) / a.size
    h = -sum(p * math.log(p) for p in levels if p > 0)
    expected = {"mi": 2 * h, "fmi": 1.0, "scd": 0.0, "vif": 2.0, "nabf": 0.0, "ssim": 2.0, "ms_ssim": 2.0, "cc": 1.0,
                "psnr": psnr_cap(*a.shape), "rmse": 0.0, "ce": 0.0, "qcb": 1.0, "qcv": 0.0}
    for m, v in expected.items():
        assert got[m] == pytest.approx(v, abs=1e-9), m
    # Qabf's sigmoids top out at Tg * Ta / ((1 + e^-7.5) (1 + e^-4.4)) for perfectly preserved edges
    top = 0.9994 * 0.9879 / (1 + math.exp(-4.4))
    assert top * 0.9994 < got["qabf"] <= top
    paper = evaluate(a, a, a, metrics=["ssim", "ms_ssim"], convention="paper")
    assert paper == pytest.approx({"ssim": 1.0, "ms_ssim": 1.0})


@pytest.mark.parametrize("value", [0, 128])
def test_constant_images_give_documented_values(value):
    c = np.full((32, 40), value, np.uint8)
    got = evaluate(c, c, c)
    assert all(math.isfinite(v) for v in got.values())
    expected = {"en": 0, "sd": 0, "sf": 0, "ag": 0, "ei": 0, "mi": 0, "fmi": 1, "scd": 0, "vif": 0, "nabf": 0,
                "ssim": 2, "ms_ssim": 2, "cc": 0, "psnr": psnr_cap(32, 40), "rmse": 0, "ce": 0, "qcb": 1, "qcv": 0}
    assert {m: got[m] for m in expected} == pytest.approx(expected)
    # zero padding makes the frame of a non-black constant image an edge, preserved perfectly; black has none
    assert got["qabf"] == (0.0 if value == 0 else pytest.approx(0.9753, abs=2e-4))
    assert str(got["en"]) == "0.0"


def test_constant_fused_image_with_real_sources():
    a, b = scene(seed=1), scene(seed=2)
    got = evaluate(np.full_like(a, 90), a, b)
    assert all(math.isfinite(v) for v in got.values())
    assert got["en"] == got["sd"] == got["mi"] == got["cc"] == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31), h=st.integers(16, 40), w=st.integers(16, 40), colour=st.booleans())
def test_random_images_stay_finite_and_bounded(seed, h, w, colour):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if colour else (h, w)
    f, a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3))
    a[: h // 2] = rng.integers(0, 256)                                           # partly flat
    for name, value in evaluate(f, a, b).items():
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
    assert evaluate(*trio, threads=2) == evaluate(*trio, threads=1)


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
