"""The teaching notebooks in notebooks/: committed clean, and executed top to bottom on a fresh kernel in fast mode.

Each notebook runs in its own kernel (nbclient, the engine nbmake uses) with a time budget for the whole notebook,
GIFNET_FAST=1 (128x128 crops), the samples and checkpoint taken from ../shared ($GIFNET_SHARED) through gifnet's own
mechanisms (GIFNET_SAMPLES, a file:// GIFNET_OFFICIAL_URL into a temporary GIFNET_CACHE), so no network is touched.
The offline switches are lifted for the kernel only because a file:// URL is not the network. Without ../shared the
runs skip; the cleanliness checks always run.

By hand, one notebook (the test sets the kernel's environment itself):  python -m pytest -q tests/test_notebooks.py -k 01
With nbmake instead, set it yourself, with absolute paths (the kernel runs in notebooks/):
    GIFNET_FAST=1 GIFNET_SAMPLES=$PWD/../shared GIFNET_OFFICIAL_URL=file://$PWD/../shared/checkpoints/official/Final.model \
    pytest --nbmake notebooks/
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra: pip install -e '.[dev]'")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
BUDGET_S = float(os.environ.get("GIFNET_NOTEBOOK_BUDGET", 600))   # per notebook, kernel start included
EXPECTED = ["01_quickstart.ipynb", "02_inside_gifnet.ipynb"]


def ids(paths):
    return [p.stem for p in paths]


def test_notebooks_present():
    names = [p.name for p in NOTEBOOKS]
    assert all(name in names for name in EXPECTED), f"missing notebooks: {set(EXPECTED) - set(names)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_committed_clean(path):
    """No outputs, no execution counts, no saved widget state: a notebook is committed as source only."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; strip them with "
                       f"`jupyter nbconvert --clear-output --inplace {path.relative_to(REPO)}`")
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; clear it before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_has_fast_mode_and_teaching_prose(path):
    """The parameters cell reads GIFNET_FAST; markdown carries the teaching (at least as many prose cells as a third
    of the code cells, and a closing note with the fast-mode run time)."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    prose = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any('os.environ.get("GIFNET_FAST", "0") == "1"' in s for s in code[:4]), \
        f"{path.name}: a parameters cell near the top must set FAST from GIFNET_FAST"
    assert len(prose) * 3 >= len(code), f"{path.name}: {len(prose)} markdown cells for {len(code)} code cells"
    assert "fast mode" in prose[-1].lower() and "__FAST" not in prose[-1], \
        f"{path.name}: the closing note must give the fast-mode run time"


def kernel_env(shared: Path, cache: Path) -> dict:
    shared = shared.resolve()   # the kernel runs in notebooks/, so a relative GIFNET_SHARED would point elsewhere
    env = dict(os.environ)
    for var in ("GIFNET_OFFLINE", "HF_HUB_OFFLINE", "GIFNET_WEIGHTS", "MPLBACKEND"):
        env.pop(var, None)   # MPLBACKEND: the notebooks use the inline backend, which renders headless
    env.update(
        GIFNET_FAST="1",
        GIFNET_SAMPLES=str(shared),
        GIFNET_OFFICIAL_URL=(shared / "checkpoints/official/Final.model").as_uri(),
        GIFNET_CACHE=str(cache),
        PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_runs(path, shared, tmp_path, record_property):
    pytest.importorskip("ipykernel", reason="ipykernel is in the notebooks extra")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    deadline = start + BUDGET_S
    client = NotebookClient(
        nb, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),   # the budget is per notebook
        startup_timeout=120,
    )
    try:
        client.execute(env=kernel_env(shared, tmp_path / "cache"))
    except CellTimeoutError:
        pytest.fail(f"{path.name}: exceeded its budget of {BUDGET_S:.0f} s (GIFNET_NOTEBOOK_BUDGET)", pytrace=False)
    except CellExecutionError as e:
        pytest.fail(f"{path.name} failed:\n{e}", pytrace=False)
    elapsed = time.monotonic() - start
    record_property("seconds", round(elapsed, 1))
    sys.stderr.write(f"{path.name}: {elapsed:.1f} s\n")
