"""The one place that turns a weights *source* into a ready GIFNet: `load_model(source)`.

A source is one of
    None                  -> $GIFNET_WEIGHTS if set, else DEFAULT_WEIGHTS
    "official"            -> the authors' released checkpoint, downloaded once from its public GitHub URL into the user
                             cache and verified by sha256 (we may not redistribute it, so it is never bundled)
    a .model/.pt/.pth file-> an authors'-layout state dict, read with torch.load(weights_only=True) and key-mapped
    a .safetensors file   -> our weights (config.json next to it is used when present)
    a folder              -> a save_pretrained folder (config.json + model.safetensors)
    a .onnx file          -> a graph written by `gifnet export`, run by ONNX Runtime (gifnet.onnx.OnnxModel)
    "org/name[@revision]" -> a Hugging Face Hub repository saved with `GIFNet.save_pretrained`/`push_to_hub`; the
                             revision (branch, tag or commit) pins a version; with HF_HUB_OFFLINE=1 or GIFNET_OFFLINE=1
                             only the local Hugging Face cache ($HF_HUB_CACHE) is used
Local paths win over Hub ids when both could match. Our weights have one on-disk format, the Hub mixin's folder
(`save_weights` and `GIFNet.save_pretrained` write it; see GIFNet's docstring).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import torch
from safetensors.torch import load_file

from .errors import GifnetError
from .files import PathLike, atomic_write, write_text
from .model import CONFIG_NAME, WEIGHTS_NAME, GIFNet, GIFNetConfig, convert_official_state_dict

log = logging.getLogger(__name__)

OFFICIAL_URL = "https://github.com/AWCXV/GIFNet/raw/main/model/Final.model"
OFFICIAL_SHA256 = "bfc1dfef0d5b386b0c04f172daf8f6af52ba395f26dc3dd5757425fd32eb1038"
REPO_ROOT = Path(__file__).resolve().parents[1]
# The weights used when nothing is asked for: this project's own, from the repository's weights/ folder. An installed
# wheel carries them as package data (gifnet/weights/, see pyproject.toml); a clone or an editable install reads
# weights/ itself. Where neither has them, the authors' checkpoint.
BUNDLED_NAME = "gifnet-roadscene-cpu"
_BUNDLED_PLACES = (Path(__file__).resolve().parent / "weights" / BUNDLED_NAME, REPO_ROOT / "weights" / BUNDLED_NAME)
BUNDLED_WEIGHTS = next((p for p in _BUNDLED_PLACES if (p / "model.safetensors").is_file()), _BUNDLED_PLACES[-1])
DEFAULT_WEIGHTS: str | Path = BUNDLED_WEIGHTS if (BUNDLED_WEIGHTS / "model.safetensors").is_file() else "official"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def cache_dir() -> Path:
    """$GIFNET_CACHE, else $XDG_CACHE_HOME/gifnet, else ~/.cache/gifnet."""
    if os.environ.get("GIFNET_CACHE"):
        return Path(os.environ["GIFNET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gifnet"


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("GIFNET_OFFLINE", "HF_HUB_OFFLINE"))


def sha256_of(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str) -> Path:
    """Fetch `url` (https or file://) to `dest` unless a copy with the right sha256 is already there. Written to a
    temp file first and moved into place only after the checksum matches, so an interrupted download leaves nothing."""
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    if offline():
        raise GifnetError(f"{dest.name} is not in the cache ({dest.parent}) and offline mode is on; unset "
                          f"GIFNET_OFFLINE/HF_HUB_OFFLINE or download {url} yourself and pass its path")
    dest.parent.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm


    def fetch(tmp: Path) -> None:
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=total is None) as bar:
                    for chunk in iter(lambda: r.read(1 << 20), b""):
                        f.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise GifnetError(f"could not download {url} ({getattr(e, 'reason', e)}); check your connection, or "
                              "download it yourself and pass the file's path") from None
        if h.hexdigest() != sha256:
            raise GifnetError(f"{url}: downloaded file has sha256 {h.hexdigest()[:16]}..., expected {sha256[:16]}...; "
                              "the file changed or the download was corrupted; try again or download it by hand")

    atomic_write(dest, fetch)
    log.info("downloaded %s to %s", url, dest)
    return dest


def official_checkpoint() -> Path:
    """Path to the authors' `Final.model` in the cache, downloading it first if needed ($GIFNET_OFFICIAL_URL overrides
    the URL, e.g. a file:// mirror)."""
    url = os.environ.get("GIFNET_OFFICIAL_URL", OFFICIAL_URL)
    return download(url, cache_dir() / "official" / "Final.model", OFFICIAL_SHA256)


# ------------------------------------------------------------------------------------------------------- load / save
def resolve_source(source: PathLike | None = None) -> PathLike | GIFNet:
    """The weights source `load_model` uses for `source`: itself, or when None $GIFNET_WEIGHTS, else DEFAULT_WEIGHTS."""
    return source if source is not None else os.environ.get("GIFNET_WEIGHTS") or DEFAULT_WEIGHTS


def load_model(source: PathLike | None = None, *, device: str | torch.device = "cpu") -> GIFNet:
    """Resolve `source` (see module doc) and return a GIFNet in eval mode on `device` (an OnnxModel for .onnx)."""
    source = resolve_source(source)
    from .onnx import OnnxModel

    if isinstance(source, OnnxModel):
        return source
    if not isinstance(source, GIFNet) and os.fspath(source).lower().endswith(".onnx"):
        return OnnxModel(Path(os.fspath(source)).expanduser(), device=str(device))
    model = _load(source)
    return model.to(device).eval()


def _load(source: PathLike) -> GIFNet:
    if isinstance(source, GIFNet):
        return source
    text = os.fspath(source)
    path = Path(text).expanduser()
    if text == "official":
        return load_official(official_checkpoint())
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        if path.suffix == ".safetensors":
            return load_safetensors(path)
        return load_official(path)
    if HUB_ID.match(text) and not text.startswith((".", "/")):
        return load_from_hub(text)
    raise GifnetError(f"{text}: weights not found; give a .model/.safetensors/.onnx file, a save_pretrained "
                      "folder, 'official', or a Hub id like org/name@revision")


def load_official(path: Path) -> GIFNet:
    """An authors'-layout checkpoint (plain state dict), read without unpickling arbitrary objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GifnetError(f"{path}: cannot be read as a PyTorch state dict of plain tensors ({type(e).__name__}): it "
                          "is another kind of file, a damaged one, or it holds pickled objects, which gifnet never "
                          "loads. Pass the authors' Final.model, one of our .safetensors files, or a save_pretrained "
                          "folder.") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise GifnetError(f"{path}: expected a state dict, found {type(state).__name__}")
    if all(k in GIFNet().state_dict() for k in state):       # already in our naming
        return _from_state(state, GIFNetConfig(), path)
    return _from_state(convert_official_state_dict(state, source=str(path)), GIFNetConfig(), path)


def load_safetensors(path: Path) -> GIFNet:
    """A loose safetensors file of our weights (config.json next to it is used when present)."""
    if path.name == WEIGHTS_NAME:
        return load_folder(path.parent)
    config_path = path.parent / CONFIG_NAME
    config = read_config(config_path) if config_path.is_file() else GIFNetConfig()
    try:
        state = load_file(path)
    except Exception as e:
        raise GifnetError(f"{path}: cannot be read as a safetensors file ({type(e).__name__}: it is not one, or it is "
                          "truncated). Pass a complete .safetensors file or a save_pretrained folder.") from None
    return _from_state(state, config, path)


def load_folder(folder: Path) -> GIFNet:
    """A save_pretrained folder (config.json + model.safetensors), through the Hub mixin's own loader."""
    if not (folder / WEIGHTS_NAME).is_file():
        found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise GifnetError(f"{folder}: no {WEIGHTS_NAME} in this folder (found: {found}); pass a save_pretrained "
                          "folder or a weights file")
    if (folder / CONFIG_NAME).is_file():
        read_config(folder / CONFIG_NAME)  # a broken config.json is reported here, with its path
    return GIFNet.from_pretrained(folder, strict=True)


def read_config(path: Path) -> GIFNetConfig:
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as e:
        raise GifnetError(f"{path}: not a valid GIFNet config.json ({e})") from None
    try:
        return GIFNetConfig.from_dict(data)
    except GifnetError as e:
        raise GifnetError(f"{path}: {e}") from None


def _from_state(state: dict, config: GIFNetConfig, source: PathLike) -> GIFNet:
    model = GIFNet(config)
    model.load_state_matching(state, source=str(source), strict=True)
    return model


def save_weights(model: GIFNet, folder: PathLike, *, metadata: dict | None = None, replace_card: bool = False,
                 **card: str) -> Path:
    """Write a save_pretrained folder: config.json ({"config": {...}}), model.safetensors (contiguous fp32, with
    `metadata` as str -> str notes in its header) and README.md, the model card (kept if one is already there unless
    `replace_card`; `card` fills its optional fields: repo_id, weights_name, training_data, evaluation; see
    gifnet/card.py). The same format as `model.save_pretrained(folder)`; load it with `load_model(folder)` or
    `GIFNet.from_pretrained(folder)`. Every file is written atomically (gifnet.files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model._save_pretrained(folder, metadata=metadata)
    if replace_card or not (folder / "README.md").exists():
        write_text(folder / "README.md", str(model.generate_model_card(**card)))
    return folder


def hf_cache_dir() -> str | None:
    """The Hugging Face cache as the environment says *now* (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def load_from_hub(spec: str) -> GIFNet:
    """`org/name` or `org/name@revision` (branch, tag or commit) from the Hugging Face Hub or its local cache.

    Offline mode (HF_HUB_OFFLINE=1 or GIFNET_OFFLINE=1) only looks in the cache ($HF_HUB_CACHE, else the default)
    and says so when the files are not there; online, a cached copy is used when the Hub cannot be reached."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, _, revision = spec.partition("@")
    where = hf_cache_dir() or _default_hf_cache()
    local_only = offline() or not hub_reachable()     # unreachable: the cache at once, not a minute of retries
    try:
        return GIFNet.from_pretrained(repo_id, revision=revision or None, cache_dir=hf_cache_dir(),
                                      local_files_only=local_only, strict=True)
    except LocalEntryNotFoundError:
        if offline():
            raise GifnetError(f"{spec}: not in the local Hugging Face cache ({where}) and offline mode is on "
                              "(HF_HUB_OFFLINE/GIFNET_OFFLINE); download it once online, or pass a local weights "
                              "folder") from None
        raise GifnetError(f"{spec}: the Hugging Face Hub ({hub_endpoint()}) cannot be reached and no cached copy was "
                          f"found in {where}; check your connection, or pass a local weights folder") from None
    except GifnetError:
        raise
    except Exception as e:  # RepositoryNotFoundError, RevisionNotFoundError, gated repos, HTTP errors
        raise GifnetError(f"{spec}: could not be fetched from the Hugging Face Hub ({type(e).__name__}); check the "
                          "id and the revision, and that the repository is public") from None


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _default_hf_cache() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def hub_reachable(*, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub's host opens within `timeout` seconds (huggingface_hub itself retries an
    unreachable host for about half a minute before giving up). Behind a proxy (HTTPS_PROXY, ALL_PROXY) the host is
    not tried directly: True."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urllib.parse.urlsplit(hub_endpoint())
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False
