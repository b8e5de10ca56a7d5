"""The package as a user installs it: a wheel built from this tree (`pip install .`, not editable) carries the default
weights, so a fresh environment fuses offline with `gifnet.load_model()` and the `gifnet` command, from the installed
files alone. No network: the wheel is built without build isolation and installed with --no-index --no-deps; the
fresh venv borrows this environment's dependencies (torch, ...) through a .pth file, never its gifnet."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gifnet
from gifnet import hub

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("gifnet", "weights", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in")

FUSE = """
import sys
from pathlib import Path
import numpy as np
import gifnet
from gifnet import hub
print(Path(gifnet.__file__).resolve().parent)
print(Path(hub.DEFAULT_WEIGHTS).resolve())
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
np.save(sys.argv[3], gifnet.fuse(a, b, task="ivif", model=gifnet.load_model()))
"""


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this tree installed in it; returns the venv folder."""
    if not (hub.BUNDLED_WEIGHTS / "model.safetensors").is_file():
        pytest.skip("this tree has no bundled weights to package")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    for name in SOURCES:                      # a copy: building writes build/ and *.egg-info next to the sources
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, src / name)
    shutil.rmtree(src / "gifnet" / "__pycache__", ignore_errors=True)
    (src / "weights" / "resume-planted.pt").write_bytes(b"a training campaign's resume file: not for the wheel")
    run([sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", root / "dist"])
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((root / "dist").glob("gifnet-*.whl"))
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    return env_dir


def clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIFNET_") and k != "PYTHONPATH"}
    return {**env, "GIFNET_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "GIFNET_CACHE": str(tmp / "empty-cache")}


@pytest.mark.slow
def test_wheel_carries_the_default_weights_and_fuses_offline(installed, tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.random((40, 48), dtype=np.float32), rng.random((40, 48), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    (tmp_path / "fuse.py").write_text(FUSE)
    r = run([installed / "bin" / "python", tmp_path / "fuse.py", tmp_path / "a.npy", tmp_path / "b.npy",
             tmp_path / "out.npy"], cwd=tmp_path, env=clean_env(tmp_path))
    package, weights = (Path(line) for line in r.stdout.split())
    assert package.is_relative_to(installed) and package != REPO / "gifnet"      # the installed copy, not this tree
    assert weights == package / "weights" / hub.BUNDLED_NAME                     # ... with its own weights
    assert not list((package / "weights").rglob("*.pt"))                          # ... and no campaign resume file
    expected = gifnet.fuse(a, b, task="ivif", model=gifnet.load_model(hub.BUNDLED_WEIGHTS))
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    assert not (tmp_path / "empty-cache").exists()                                # nothing was downloaded


@pytest.mark.slow
def test_installed_command_fuses_with_the_default(installed, tmp_path):
    rng = np.random.default_rng(1)
    for name in ("ir", "vis"):
        Image.fromarray(rng.integers(0, 256, (36, 44), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    run([installed / "bin" / "gifnet", "fuse", "ir.png", "vis.png", "-o", "fused.png", "--task", "ivif"],
        cwd=tmp_path, env=clean_env(tmp_path))
    assert Image.open(tmp_path / "fused.png").size == (44, 36)
