"""`gifnet evaluate` and gifnet.evaluate: scoring folders or models, reports, and bad-input messages."""
from __future__ import annotations

import csv
import logging
import math

import numpy as np
import pytest
import torch

from gifnet.cli import main
from gifnet.errors import GifnetError
from gifnet.evaluate import method_names, score_folders, score_models, summary_markdown, write_report
from gifnet.image import write_image

FAST = ["en", "sd", "mi", "qabf", "ssim", "rmse"]


def scene(seed: int, h: int = 32, w: int = 40, colour: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 120 + 70 * np.sin(x / 4 + seed) * np.cos(y / 5) + rng.normal(0, 10, (h, w))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.stack([img, np.roll(img, 3, 1), img // 2], -1) if colour else img


@pytest.fixture
def data(tmp_path):
    """Sources a/ (grey) and b/ (colour) for pairs 1..3, a good result folder and a poor one."""
    dirs = {k: tmp_path / k for k in ("a", "b", "good", "poor")}
    for d in dirs.values():
        d.mkdir()
    for i in range(1, 4):
        a, b = scene(i), scene(10 + i, colour=True)
        write_image(a, dirs["a"] / f"{i}.png")
        write_image(b, dirs["b"] / f"{i}.jpg")
        write_image(((a[..., None].astype(np.float32) + b) / 2).astype(np.uint8), dirs["good"] / f"{i}.png")
        write_image(np.clip(b.astype(int) + 60, 0, 255).astype(np.uint8), dirs["poor"] / f"{i}.png")
    return tmp_path


def test_score_folders_table(data):
    s = score_folders(data / "a", data / "b", [data / "good", data / "poor"], metrics=FAST)
    assert s.methods == ["good", "poor"] and s.images == ["1", "2", "3"] and s.metrics == FAST
    assert s.values.shape == (2, 3, len(FAST)) and np.isfinite(s.values).all()
    best = dict(zip(FAST, s.best()))
    assert best["rmse"] == 0 and best["ssim"] == 0          # the average is closer to both sources


def test_report_files(data, tmp_path):
    import matplotlib

    s = score_folders(data / "a", data / "b", [data / "good", data / "poor"], metrics=FAST)
    out = tmp_path / "report"
    backend = matplotlib.get_backend()
    matplotlib.use("svg")                               # a caller's backend that is not the Agg default
    try:
        files = write_report(s, out)
        assert matplotlib.get_backend() == "svg"        # the plot leaves a notebook's (or any caller's) backend alone
    finally:
        matplotlib.use(backend)
    assert [f.name for f in files] == ["scores.csv", "summary.md", "metrics.png"]
    with open(out / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and rows[0]["method"] == "good" and set(FAST) < set(rows[0])
    assert float(rows[0]["rmse"]) == pytest.approx(s.values[0, 0, FAST.index("rmse")], rel=1e-5)
    md = (out / "summary.md").read_text()
    assert "| rmse ↓ |" in md and "| ssim ↑ |" in md and "**" in md and "±" in md
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GifnetError, match="already exists; pass --overwrite"):
        write_report(s, out)
    write_report(s, out, overwrite=True)


def test_summary_bold_marks_the_better_direction():
    from gifnet.evaluate import Scores

    values = np.array([[[1.0, 5.0]], [[2.0, 3.0]]])               # methods x images x (qabf, rmse)
    md = summary_markdown(Scores(["x", "y"], ["1"], ["qabf", "rmse"], values))
    assert "| qabf ↑ | 1.000 ± 0.0000 | **2.000 ± 0.0000** |" in md
    assert "| rmse ↓ | 5.000 ± 0.0000 | **3.000 ± 0.0000** |" in md


def test_cli_scores_folders(data, tmp_path, capsys):
    out = tmp_path / "rep"
    args = ["evaluate", "--a", str(data / "a"), "--b", str(data / "b"), "--fused", str(data / "good"),
            "--fused", str(data / "poor"), "--name", "avg", "--name", "bright", "--metrics", "qabf,rmse",
            "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| metric | avg | bright |" in printed and "qabf ↑" in printed
    assert sorted(p.name for p in out.iterdir()) == ["metrics.png", "scores.csv", "summary.md"]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_cli_convention_is_applied_and_reported(data, tmp_path, capsys):
    base = ["evaluate", "--a", str(data / "a"), "--b", str(data / "b"), "--fused", str(data / "good"),
            "--metrics", "psnr,MSE,sd"]
    values = {}
    for conv in ("vifb", "paper", "tang2022", "tang"):
        out = tmp_path / conv
        assert main(base + ["--convention", conv, "-o", str(out)]) == 0
        assert f"Metric conventions: '{conv}' (" in (out / "summary.md").read_text()
        with open(out / "scores.csv", newline="") as fh:
            values[conv] = [{k: float(r[k]) for k in ("psnr", "mse", "sd")} for r in csv.DictReader(fh)]
    capsys.readouterr()
    for new, old, paper in zip(values["tang"], values["tang2022"], values["paper"]):
        assert new["psnr"] == old["psnr"] and new["mse"] == old["mse"] and new["sd"] != old["sd"]
        assert new["psnr"] > paper["psnr"] + 40 and new["mse"] < 1            # [0, 1] data, peak 255
    assert "Linfeng Tang" in (tmp_path / "tang2022" / "summary.md").read_text()
    with pytest.raises(SystemExit):
        main(base + ["--convention", "matlab", "-o", str(tmp_path / "x")])
    assert "invalid choice: 'matlab'" in capsys.readouterr().err


def test_pattern_matches_suffixed_names(data, tmp_path):
    for p in (data / "good").iterdir():
        p.rename(p.with_name(f"{p.stem}_avg{p.suffix}"))
    s = score_folders(data / "a", data / "b", [data / "good"], metrics=["en"], pattern="{name}_avg")
    assert s.values.shape == (1, 3, 1)
    with pytest.raises(GifnetError, match="must contain {name}"):
        score_folders(data / "a", data / "b", [data / "good"], metrics=["en"], pattern="avg")


def test_missing_result_is_named(data):
    (data / "poor" / "2.png").unlink()
    with pytest.raises(GifnetError, match=r"poor: no result for 1 of 3 source pairs \(2\)"):
        score_folders(data / "a", data / "b", [data / "good", data / "poor"], metrics=["en"])


def test_unpaired_source_is_skipped_with_a_warning(data, caplog):
    write_image(scene(99), data / "a" / "lonely.png")
    with caplog.at_level(logging.WARNING, logger="gifnet"):
        s = score_folders(data / "a", data / "b", [data / "good"], metrics=["en"])
    assert s.images == ["1", "2", "3"]
    assert "lonely.png" in caplog.text


def test_size_mismatch_is_named(data):
    write_image(scene(5, h=20), data / "good" / "3.png", overwrite=True)
    with pytest.raises(GifnetError, match=r"3\.png is 40x20 but the fused image .*good/3\.png is 40x32|"
                                          r"is 40x32 but the fused image .*good/3\.png is 40x20"):
        score_folders(data / "a", data / "b", [data / "good"], metrics=["en"])


def test_constant_result_scores_finite_with_a_warning(data, caplog):
    write_image(np.full((32, 40, 3), 77, np.uint8), data / "good" / "1.png", overwrite=True)
    with caplog.at_level(logging.WARNING, logger="gifnet"):
        s = score_folders(data / "a", data / "b", [data / "good"])
    assert np.isfinite(s.values).all()
    assert "good/1: the fused image is constant" in caplog.text


def test_missing_folders_and_bad_options(data, tmp_path, capsys):
    base = ["evaluate", "--a", str(data / "a"), "--b", str(data / "b"), "-o", str(tmp_path / "r")]
    assert main(base) == 2
    assert "either --fused DIR" in capsys.readouterr().err
    assert main(base + ["--fused", str(data / "good"), "--weights", "official"]) == 2
    assert "either --fused DIR" in capsys.readouterr().err
    assert main(base + ["--fused", str(tmp_path / "nope")]) == 2
    assert "nope: results folder not found" in capsys.readouterr().err
    assert main(base + ["--fused", str(data / "good"), "--metrics", "qabf,zz"]) == 2
    assert "unknown metric 'zz'" in capsys.readouterr().err
    assert main(base + ["--fused", str(data / "good"), "--name", "x", "--name", "y"]) == 2
    assert "2 --name values for 1 --fused folders" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", "--a", str(empty), "--b", str(data / "b"), "--fused", str(data / "good")]) == 2
    assert "no images in this folder" in capsys.readouterr().err


def test_method_names_are_unique():
    assert method_names(["official", "w/mine.safetensors", "runs/x", "runs2/x"]) == ["official", "mine", "x", "x-2"]


def test_score_models_side_by_side(data, tmp_path):
    """Two (random, tiny) models fuse every pair through gifnet.fuse and are scored side by side."""
    from gifnet.hub import save_weights
    from gifnet.model import GIFNet, GIFNetConfig

    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folders.append(str(save_weights(GIFNet(GIFNetConfig()).eval(), tmp_path / f"model{seed}")))
    saved = tmp_path / "fused"
    s = score_models(data / "a", data / "b", folders, task="ivif", metrics=["sd", "qabf"], save_dir=saved)
    assert s.methods == ["model0", "model1"] and s.values.shape == (2, 3, 2)
    assert np.isfinite(s.values).all() and not np.allclose(s.values[0], s.values[1])
    assert sorted(p.name for p in (saved / "model1").iterdir()) == ["1.png", "2.png", "3.png"]
    with pytest.raises(GifnetError, match="already exists; choose another --save-fused"):
        score_models(data / "a", data / "b", folders, task="ivif", metrics=["sd"], save_dir=saved)
    with pytest.raises(GifnetError, match="unknown task"):
        score_models(data / "a", data / "b", folders, task="nope", metrics=["sd"])
    assert math.isfinite(float(s.mean().sum()))
