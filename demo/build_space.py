"""Assemble a Hugging Face Space for the demo: `python demo/build_space.py OUT [--weights org/name | --no-hub-weights]`.

OUT receives app.py, README.md (Space front matter), requirements.txt, a copy of the gifnet package, the bundled
weights/ folder when the repository has one, and weights.txt (the Space's default weights, read by app.py unless the
Space sets GIFNET_WEIGHTS). Upload OUT with `hf upload org/space OUT . --repo-type space`.

requirements.txt is generated from pyproject.toml (the package's dependencies and its `demo` extra, without Gradio,
which the Space's `sdk_version` provides): the dependencies are stated once. `python demo/build_space.py
--requirements` prints it; demo/requirements.txt is that output, kept for readers and checked by the tests.
"""
import argparse
import re
import shutil
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLACEHOLDER = "gifnet-project/gifnet"


def requirements() -> str:
    """The Space's requirements.txt: pyproject.toml's dependencies and `demo` extra, Gradio left out."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = [d for d in project["dependencies"] + project["optional-dependencies"]["demo"]
            if not re.match(r"gradio\b", d)]
    head = ("# Python packages of the GIFNet Space, generated from pyproject.toml by demo/build_space.py (do not edit).\n"
            "# Gradio itself comes from `sdk_version` in README.md; `spaces` (ZeroGPU) is preinstalled on Spaces.\n"
            "# The gifnet package is copied next to app.py by demo/build_space.py.\n")
    return head + "".join(d + "\n" for d in dict.fromkeys(deps))


def build(out: Path, weights: str = PLACEHOLDER, hub_weights: bool = True) -> Path:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"build_space: {out} exists and is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "app.py", out / "app.py")
    (out / "requirements.txt").write_text(requirements())
    shutil.copytree(REPO / "gifnet", out / "gifnet", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if (REPO / "weights").is_dir():
        shutil.copytree(REPO / "weights", out / "weights")
    card = (HERE / "README.md").read_text()
    repo_id = weights.split("@")[0]
    if hub_weights:
        card = card.replace(f"  - {PLACEHOLDER}\n", f"  - {repo_id}\n")
        card = card.replace(f"  - {PLACEHOLDER} config.json", f"  - {repo_id} config.json")
        (out / "weights.txt").write_text(weights + "\n")
    else:
        card = re.sub(r"(models|preload_from_hub):\n(  - .*\n)+", "", card)
    (out / "README.md").write_text(card)
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--requirements"]:
        sys.exit(print(requirements(), end=""))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="an empty or new folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", default=PLACEHOLDER, help="Hub id (org/name[@revision]) of the weights to serve")
    g.add_argument("--no-hub-weights", action="store_true", help="serve gifnet's bundled default weights")
    a = p.parse_args()
    print(build(a.out, a.weights, not a.no_hub_weights))
