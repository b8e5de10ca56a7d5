"""Assemble a Hugging Face Space for the demo: `python demo/build_space.py OUT [--weights org/name | --no-hub-weights]`.

OUT receives app.py, README.md (Space front matter), requirements.txt, a copy of the gifnet package, the bundled
weights/ folder when the repository has one, and weights.txt (the Space's default weights, read by app.py unless the
Space sets GIFNET_WEIGHTS). Upload OUT with `hf upload org/space OUT . --repo-type space`.
"""
import argparse
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLACEHOLDER = "gifnet-project/gifnet"


def build(out: Path, weights: str = PLACEHOLDER, hub_weights: bool = True) -> Path:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"build_space: {out} exists and is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("app.py", "requirements.txt"):
        shutil.copy(HERE / name, out / name)
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="an empty or new folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--weights", default=PLACEHOLDER, help="Hub id (org/name[@revision]) of the weights to serve")
    g.add_argument("--no-hub-weights", action="store_true", help="serve gifnet's bundled default weights")
    a = p.parse_args()
    print(build(a.out, a.weights, not a.no_hub_weights))
