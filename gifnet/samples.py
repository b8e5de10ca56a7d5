"""Example images for notebooks and the demo: the authors' one public sample pair per task.

They are read from a local folder when `$GIFNET_SAMPLES` names one (a folder with the release's `images/` layout, e.g.
`IVIF/ir/1.jpg`, or a folder holding such a `samples/` folder), otherwise downloaded once from the authors' public
GitHub repository into the user cache (`gifnet.hub.cache_dir() / "samples"`) and verified by sha256. We do not
redistribute them: nothing here is bundled with the package.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import GifnetError
from .hub import cache_dir, download

SAMPLES_URL = "https://github.com/AWCXV/GIFNet/raw/main/images/"
# task -> (slot a, slot b); each file: (path in the release's images/ folder, sha256)
SAMPLES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "ivif": (("IVIF/ir/1.jpg", "1493246378ffecef7be28842f9bfd03f220fd3094d7ce59079989f25a2416301"),
             ("IVIF/vis/1.jpg", "d57604a1a217d84447d8c4128e4e927f4c2c9677b68f7e0943ca46374f438e44")),
    "mfif": (("MFIF/ir/1.jpg", "2f9fb95461f2297388eeece514544714cf4f7f1377e4b0bb6fae2901d43dd795"),
             ("MFIF/vis/1.jpg", "d7329134ec2987840e1bd29de06383fc9dd796904d24d6d9e9d4d6dc63dfdac6")),
    "meif": (("MEIF/ir/1.jpg", "e6d4fb578308f29bf75e13e3bd04ca231e80957fc062a0b6880f695b335246ee"),
             ("MEIF/vis/1.jpg", "732eb00668b6db3f5e9fcfbd7fc721b4463b7db1a8b8c07c4d77dd620021905e")),
    "medical": (("Medical/pet/1.png", "80e249b7f91426a78426a0ac5d9a02f2b70ed2d581d879076caf4c734361ea92"),
                ("Medical/mri/1.png", "a7bd2160767d6c66587e950a42e96168226e9e00033f3c287fc19d0e2b8f25a0")),
    "nir-vis": (("NIR-VIS/nir/1.jpg", "d606745b7b9e8f51234cfafa59ec15d5e2319ac70c6159e3ac696537bd67bb84"),
                ("NIR-VIS/vis/1.jpg", "b59d53d1edc066554dc7c9ed8cc9713ee94b7b4c22ee297c3d43cda658eb9315")),
    "remote": (("Remote/MS/1.tif", "15d8793e7cbf618466f761667b03f342b257089df1dd88d61c0f92f13272e415"),
               ("Remote/PAN/1.tif", "2c5e61cca7bbd057ea44828527596d3dab05d6f5c6c443f65c763c69a30b4daa")),
}


def local_root() -> Path | None:
    """The local samples folder named by $GIFNET_SAMPLES (or its `samples/` subfolder), if any."""
    env = os.environ.get("GIFNET_SAMPLES")
    if not env:
        return None
    root = Path(env).expanduser()
    if (root / "samples").is_dir():
        root = root / "samples"
    if not root.is_dir():
        raise GifnetError(f"GIFNET_SAMPLES={env}: folder not found")
    return root


def sample_file(rel: str, sha256: str) -> Path:
    root = local_root()
    if root is not None:
        path = root / rel
        if not path.is_file():
            raise GifnetError(f"{path}: not found in GIFNET_SAMPLES; the folder needs the release's images/ layout")
        return path
    return download(SAMPLES_URL + rel, cache_dir() / "samples" / rel, sha256)


def sample_pair(task: str) -> tuple[Path, Path]:
    """Paths of the authors' sample pair for `task` (slot a, slot b), fetched on first use."""
    if task not in SAMPLES:
        raise GifnetError(f"no sample for task {task!r}; choose one of {', '.join(SAMPLES)}")
    (rel_a, sha_a), (rel_b, sha_b) = SAMPLES[task]
    return sample_file(rel_a, sha_a), sample_file(rel_b, sha_b)


def dataset_folder(name: str) -> Path | None:
    """A local evaluation/training dataset folder (e.g. "eval/tno", "train/roadscene") under $GIFNET_SAMPLES's
    `datasets/`, or None when there is none (notebooks then fall back to the samples or synthetic data)."""
    env = os.environ.get("GIFNET_SAMPLES")
    if not env:
        return None
    folder = Path(env).expanduser() / "datasets" / name
    return folder if folder.is_dir() else None
