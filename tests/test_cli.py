"""The `gifnet` command end to end in temp dirs: files, folders, every bad input gives one line and no partial file."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gifnet import hub, pipeline
from gifnet.cli import main
from gifnet.model import GIFNet

REPO = Path(__file__).resolve().parents[1]
rng = np.random.default_rng(2)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    torch.manual_seed(0)
    return str(hub.save_weights(GIFNet(), tmp_path_factory.mktemp("weights") / "random"))


def save(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def img(h=24, w=20, c=0):
    shape = (h, w, c) if c else (h, w)
    return (rng.random(shape) * 255).astype(np.uint8)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_fuse_files(tmp_path, weights, capsys):
    a, b = save(tmp_path / "ir.png", img()), save(tmp_path / "vis.jpg", img(c=3))
    code, text = run(capsys, "fuse", a, b, "-o", tmp_path / "f.png", "--task", "ivif", "--weights", weights)
    assert code == 0 and Image.open(tmp_path / "f.png").mode == "RGB"
    code, text = run(capsys, "fuse", a, b, "-o", tmp_path / "f.png", "--weights", weights)
    assert code == 2 and "already exists" in text and "--overwrite" in text
    assert run(capsys, "fuse", a, b, "-o", tmp_path / "f.png", "--weights", weights, "--overwrite")[0] == 0


def test_enhance_and_fuse_ms(tmp_path, weights, capsys):
    src = save(tmp_path / "x.png", img(c=3))
    assert run(capsys, "enhance", src, "-o", tmp_path / "e.png", "--weights", weights)[0] == 0
    bands = [save(tmp_path / f"b{i}.png", img(32, 32)) for i in range(3)]
    pan = save(tmp_path / "pan.png", img(32, 32))
    code, text = run(capsys, "fuse-ms", *bands, pan, "-o", tmp_path / "ms.tif", "--weights", weights)
    assert code == 0 and "3 bands" in text
    code, text = run(capsys, "fuse-ms", *bands, pan, "-o", tmp_path / "ms.png", "--weights", weights)
    assert code == 2 and "use a .tif" in text


def test_folder_mode(tmp_path, weights, capsys):
    for name in ("1", "2", "3"):
        save(tmp_path / "a" / f"{name}.png", img())
        save(tmp_path / "b" / f"{name}.jpg", img(c=3))
    save(tmp_path / "a" / "lonely.png", img())
    (tmp_path / "b" / "3.jpg").write_text("broken")                   # a bad file: reported and skipped
    code, text = run(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out", "--weights", weights)
    assert code == 1
    assert "unpaired, skipped" in text and "lonely.png" in text
    assert "skipped 3" in text and "fused 2 of 3 pairs" in text and "1 failed" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.png", "2.png"]
    code, text = run(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out", "--weights", weights)
    assert code == 2 and "already exist" in text


@pytest.mark.parametrize("case", ["sizes", "not_image", "missing", "empty_dir", "no_common", "unwritable", "small",
                                  "dir_and_file", "bad_weights"])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, weights, capsys, case):
    a, b = save(tmp_path / "in/a.png", img()), save(tmp_path / "in/b.png", img())
    out = tmp_path / "out" / "f.png"
    out.parent.mkdir()
    args = ["fuse", a, b, "-o", out, "--weights", weights]
    expect = {"sizes": "sizes differ", "not_image": "not a readable image", "missing": "file not found",
              "empty_dir": "no images in this folder", "no_common": "no file names in common",
              "unwritable": "output folder does not exist", "small": "at least 8x8",
              "dir_and_file": "mix of a folder and a file", "bad_weights": "weights not found"}[case]
    if case == "sizes":
        args[2] = save(tmp_path / "in/c.png", img(24, 30))
    elif case == "not_image":
        args[1] = tmp_path / "in/x.png"
        args[1].write_text("not an image")
    elif case == "missing":
        args[1] = tmp_path / "in/nope.png"
    elif case == "empty_dir":
        (tmp_path / "e1").mkdir(), (tmp_path / "e2").mkdir()
        args[1:3] = [tmp_path / "e1", tmp_path / "e2"]
    elif case == "no_common":
        args[1:3] = [save(tmp_path / "d1/x.png", img()).parent, save(tmp_path / "d2/y.png", img()).parent]
    elif case == "unwritable":
        args[4] = tmp_path / "in/a.png/f.png"
    elif case == "small":
        args[1:3] = [save(tmp_path / "in/s1.png", img(6, 6)), save(tmp_path / "in/s2.png", img(6, 6))]
    elif case == "dir_and_file":
        args[1] = tmp_path / "in"
    elif case == "bad_weights":
        args[-1] = tmp_path / "nope.safetensors"
    code, text = run(capsys, *args)
    assert code == 2 and expect in text
    assert "Traceback" not in text and len([ln for ln in text.splitlines() if ln.startswith("gifnet: error")]) == 1
    assert list(out.parent.iterdir()) == []


def test_too_large_for_memory_fails_before_allocating(tmp_path, weights, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "available_memory", lambda: 2**20)
    a, b = save(tmp_path / "a.png", img(64, 64)), save(tmp_path / "b.png", img(64, 64))
    code, text = run(capsys, "fuse", a, b, "-o", tmp_path / "f.png", "--weights", weights)
    assert code == 2 and "GB is available" in text and not (tmp_path / "f.png").exists()


def test_console_entry_help_shows_examples():
    r = subprocess.run([sys.executable, "-m", "gifnet", "fuse", "--help"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and "examples:" in r.stdout and "gifnet fuse ir/ vis/" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gifnet", "fuse", "x.png"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_skip_existing_continues_a_folder_run(tmp_path, weights, capsys):
    for name in ("1", "2", "3"):
        save(tmp_path / "a" / f"{name}.png", img())
        save(tmp_path / "b" / f"{name}.png", img())
    out = tmp_path / "out"
    save(out / "2.png", img())                                         # left by an earlier, interrupted run
    before = (out / "2.png").read_bytes()
    code, text = run(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", out, "--weights", weights)
    assert code == 2 and "--skip-existing" in text                     # the refusal says how to continue
    code, text = run(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", out, "--weights", weights,
                     "--skip-existing")
    assert code == 0 and "fused 2 of 3 pairs" in text and "1 skipped (output exists)" in text
    assert sorted(p.name for p in out.iterdir()) == ["1.png", "2.png", "3.png"]
    assert (out / "2.png").read_bytes() == before                      # left as it was
    code, text = run(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", out, "--weights", weights,
                     "--skip-existing")
    assert code == 0 and "fused 0 of 3 pairs" in text and "3 skipped" in text
    code, text = run(capsys, "enhance", tmp_path / "a" / "1.png", "-o", out / "1.png", "--weights", weights,
                     "--skip-existing")
    assert code == 0 and "exists, skipped" in text
    with pytest.raises(SystemExit):
        main(["fuse", "x", "y", "-o", "z", "--overwrite", "--skip-existing"])        # one or the other


SLOW_WRITE = """
import sys, time
from pathlib import Path
from PIL import Image
from gifnet.cli import main

marker, calls, save = Path(sys.argv[1]), [], Image.Image.save
def slow_second_save(self, fp, *args, **kwargs):                      # the 2nd output: stop inside its write
    calls.append(fp)
    if len(calls) == 2:
        Path(fp).write_bytes(b"partial")                               # a half-written temp file
        marker.write_text(str(fp))
        time.sleep(60)
    return save(self, fp, *args, **kwargs)
Image.Image.save = slow_second_save
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_write_leaves_no_stray_file(tmp_path, weights, sig, code):
    """SIGTERM (timeout, schedulers, container stops) or SIGHUP during the second write of a folder run: exit
    128 + signal with a message, the first output complete, no temp file and no partial output left."""
    for name in ("1", "2", "3"):
        save(tmp_path / "a" / f"{name}.png", img())
        save(tmp_path / "b" / f"{name}.png", img())
    out, marker = tmp_path / "out", tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, marker, "fuse", tmp_path / "a", tmp_path / "b", "-o",
                             out, "--weights", weights], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "the write never started"
    assert Path(marker.read_text()).name.startswith(".gifnet-") and Path(marker.read_text()).exists()
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "stopped after 1 of 3 pairs" in err
    assert "--skip-existing" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["1.png"]         # no .gifnet-* temp file, no partial 2.png
    assert Image.open(out / "1.png").size == (20, 24)


def test_library_and_command_line_apart():
    """argparse lives in cli.py only, and importing the library (gifnet.evaluate) imports no command-line code."""
    import subprocess
    import sys

    package = Path(__file__).resolve().parents[1] / "gifnet"
    users = sorted(p.name for p in package.glob("*.py") if "argparse" in p.read_text() and p.name != "cli.py")
    assert users == []
    code = "import sys, gifnet.evaluate, gifnet.trainer; print('gifnet.cli' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=package.parent)
    assert r.stdout.strip() == "False"

