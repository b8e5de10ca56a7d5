"""load_model: every kind of source, the checksummed download (offline: file:// and loopback), bad weights; and the
Hugging Face Hub side: one save format (save_pretrained == save_weights), strict loading, the model card, push_to_hub,
the Hub cache with pinned revisions, offline mode, and GIFNET_WEIGHTS overriding the default everywhere. No network:
Hub tests run against a pre-seeded cache in a temp dir with HF_HUB_OFFLINE=1."""
from __future__ import annotations

import json
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import gifnet
from gifnet import cli, hub, pipeline
from gifnet.errors import GifnetError
from gifnet.model import GIFNet, GIFNetConfig


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GIFNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GIFNET_WEIGHTS", raising=False)
    monkeypatch.delenv("GIFNET_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "cache"


def same_weights(m1: GIFNet, m2: GIFNet) -> bool:
    s1, s2 = m1.state_dict(), m2.state_dict()
    return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


def test_official_download_verifies_and_caches(shared, cache, monkeypatch):
    src = shared / "checkpoints/official/Final.model"
    monkeypatch.setenv("GIFNET_OFFICIAL_URL", src.as_uri())
    model = gifnet.load_model("official")
    assert (cache / "official/Final.model").is_file()
    assert same_weights(model, hub.load_official(src))
    monkeypatch.setenv("GIFNET_OFFICIAL_URL", "http://127.0.0.1:9/unreachable")   # cached: no fetch needed
    monkeypatch.setenv("GIFNET_OFFLINE", "1")
    assert same_weights(gifnet.load_model("official"), model)


def test_download_rejects_wrong_checksum_and_leaves_nothing(cache, tmp_path, monkeypatch):
    fake = tmp_path / "Final.model"
    fake.write_bytes(b"not the checkpoint")
    monkeypatch.setenv("GIFNET_OFFICIAL_URL", fake.as_uri())
    with pytest.raises(GifnetError, match="sha256"):
        gifnet.load_model("official")
    assert not any((cache / "official").iterdir())


def test_download_unreachable_and_offline(cache, monkeypatch):
    monkeypatch.setenv("GIFNET_OFFICIAL_URL", "http://127.0.0.1:9/Final.model")   # loopback, nothing listens
    with pytest.raises(GifnetError, match="could not download"):
        gifnet.load_model("official")
    monkeypatch.setenv("GIFNET_OFFLINE", "1")
    with pytest.raises(GifnetError, match="offline mode"):
        gifnet.load_model("official")


def test_save_and_load_safetensors_folder_and_file(cache, tmp_path):
    torch.manual_seed(3)
    model = GIFNet()
    folder = hub.save_weights(model, tmp_path / "w")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors"}
    assert same_weights(gifnet.load_model(folder), model)
    assert same_weights(gifnet.load_model(folder / "model.safetensors"), model)


def test_environment_variable_overrides_default(cache, tmp_path, monkeypatch):
    model = GIFNet()
    hub.save_weights(model, tmp_path / "w")
    monkeypatch.setenv("GIFNET_WEIGHTS", str(tmp_path / "w"))
    assert same_weights(gifnet.load_model(), model)


def test_refuses_pickled_code(cache, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.model"
    with open(path, "wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(GifnetError, match="pickled objects, which gifnet never loads"):
        gifnet.load_model(path)


@pytest.mark.parametrize("name,content,match", [
    ("w.model", b"hello", "cannot be read as a PyTorch state dict .*another kind of file, a damaged one"),
    ("w.model", bytes(range(256)) * 40, "cannot be read as a PyTorch state dict"),
    ("w.safetensors", b"\x10" + bytes(300), "cannot be read as a safetensors file"),
    ("w.model", None, "weights not found")])
def test_bad_sources(cache, tmp_path, name, content, match):
    """Messages are whole sentences of our own (no PyTorch notice cut mid-word), naming the file and what to pass."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GifnetError, match=match) as e:
        gifnet.load_model(path)
    text = str(e.value)
    assert "PyTorch 2.6" not in text and "\n" not in text and len(text) < 400
    assert text.endswith((".", "revision")) or content is None


def test_folder_without_weights_and_foreign_state_dict(cache, tmp_path):
    with pytest.raises(GifnetError, match="no model.safetensors"):
        gifnet.load_model(tmp_path)
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(GifnetError, match="not a GIFNet checkpoint"):
        gifnet.load_model(tmp_path / "other.pth")


# ----------------------------------------------------------------------------------------------------- Hugging Face Hub
SHA_MAIN = "1" * 40
SHA_OLD = "2" * 40


def random_model(seed: int, config: GIFNetConfig | None = None) -> GIFNet:
    torch.manual_seed(seed)
    m = GIFNet(config)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))   # gates and norms start at 0/1: make every tensor distinctive
    return m.eval()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("GIFNET_WEIGHTS", "GIFNET_OFFLINE", "HF_HUB_OFFLINE", "HF_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("GIFNET_CACHE", str(tmp_path / "gifnet-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return tmp_path


# ------------------------------------------------------------------------------------------------ one folder format
def test_save_pretrained_and_save_weights_write_the_same_format(tmp_path):
    m = random_model(0)
    m.save_pretrained(tmp_path / "mixin")
    hub.save_weights(m, tmp_path / "ours", metadata={"step": 1200})
    for d in ("mixin", "ours"):
        assert sorted(p.name for p in (tmp_path / d).iterdir()) == ["README.md", "config.json", "model.safetensors"]
        assert json.loads((tmp_path / d / "config.json").read_text()) == {"config": GIFNetConfig().to_dict()}
    a, b = load_file(tmp_path / "mixin" / "model.safetensors"), load_file(tmp_path / "ours" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    from safetensors import safe_open
    with safe_open(tmp_path / "ours" / "model.safetensors", "pt") as f:
        assert f.metadata() == {"step": "1200"}


@pytest.mark.parametrize("writer", ["save_pretrained", "save_weights"])
@pytest.mark.parametrize("reader", ["from_pretrained", "load_model"])
def test_round_trip_keeps_weights_and_config(tmp_path, writer, reader):
    config = GIFNetConfig(enc_channels=16, bias_hidden=32)   # not the default: the config must travel
    m = random_model(1, config)
    m.save_pretrained(tmp_path) if writer == "save_pretrained" else hub.save_weights(m, tmp_path)
    loaded = GIFNet.from_pretrained(tmp_path) if reader == "from_pretrained" else hub.load_model(tmp_path)
    assert loaded.config == config and same_weights(m, loaded) and not loaded.training


def test_loading_is_strict(tmp_path):
    m = random_model(2)
    hub.save_weights(m, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    extra = dict(state, **{"unexpected.weight": torch.zeros(1)})
    save_file(extra, tmp_path / "model.safetensors")
    for load in (hub.load_model, GIFNet.from_pretrained):
        with pytest.raises(GifnetError, match="do not fit GIFNet"):
            load(tmp_path)
    state.pop("decoder.expand.weight")
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(GifnetError, match="do not fit GIFNet.*decoder.expand.weight"):
        hub.load_model(tmp_path)


def test_config_mismatching_the_weights_is_an_error(tmp_path):
    hub.save_weights(random_model(3), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"config": {"enc_channels": 16}}))
    with pytest.raises(GifnetError, match="do not fit GIFNet"):
        hub.load_model(tmp_path)


def test_broken_folder_contents_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GifnetError, match="no model.safetensors"):
        hub.load_model(tmp_path / "empty")
    hub.save_weights(random_model(4), tmp_path / "bad-config")
    (tmp_path / "bad-config" / "config.json").write_text("{not json")
    with pytest.raises(GifnetError, match="config.json"):
        hub.load_model(tmp_path / "bad-config")
    hub.save_weights(random_model(4), tmp_path / "bad-weights")
    (tmp_path / "bad-weights" / "model.safetensors").write_bytes(b"this is not safetensors")
    with pytest.raises(GifnetError, match="safetensors"):
        hub.load_model(tmp_path / "bad-weights")


def test_flat_config_and_unknown_fields(tmp_path, caplog):
    m = random_model(5)
    hub.save_weights(m, tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**GIFNetConfig().to_dict(), "future_field": 3}))
    assert same_weights(hub.load_model(tmp_path), m)
    assert "future_field" in caplog.text


# ------------------------------------------------------------------------------------------------------ model card
def test_model_card_metadata_and_body(tmp_path):
    from huggingface_hub import ModelCard

    hub.save_weights(random_model(6), tmp_path, repo_id="acme/gifnet-v1", training_data="RoadScene crops, 2 epochs.",
                     evaluation="| metric | value |\n|---|---|\n| EN | 7.0 |")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "gifnet"
    assert card.data.pipeline_tag == "image-to-image"
    assert {"image-fusion", "pansharpening", "pytorch_model_hub_mixin"} <= set(card.data.tags)
    text = card.text
    assert 'gifnet.load_model("acme/gifnet-v1")' in text
    assert "RoadScene crops, 2 epochs." in text and "| EN | 7.0 |" in text
    assert "| `medical` | PET / SPECT / CT | MRI |" in text          # slot order table
    assert "Kittler, Josef" in text and "Cheng, Chunyang" in text and "2502.19854" in text


def test_model_card_defaults_and_existing_card_kept(tmp_path):
    (tmp_path / "README.md").write_text("my own card\n")
    hub.save_weights(random_model(7), tmp_path)
    assert (tmp_path / "README.md").read_text() == "my own card\n"
    text = random_model(7).generate_model_card().text
    assert "Not documented for this checkpoint." in text and 'load_model("org/name")' in text


def test_push_to_hub_uploads_the_saved_folder(monkeypatch, tmp_path):
    """push_to_hub is the mixin's; check what it would upload without touching the network."""
    import huggingface_hub.hub_mixin as mixin

    seen = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            seen["repo"] = repo_id
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, revision=None, **kwargs):
            folder = Path(folder_path)
            seen["files"] = sorted(p.name for p in folder.iterdir())
            seen["config"] = json.loads((folder / "config.json").read_text())
            seen["card"] = (folder / "README.md").read_text()
            seen["revision"] = revision
            shutil.copytree(folder, tmp_path / "pushed")
            return "https://huggingface.co/acme/gifnet/commit/abc"

    monkeypatch.setattr(mixin, "HfApi", FakeApi)
    m = random_model(8)
    url = m.push_to_hub("acme/gifnet", branch="v2", model_card_kwargs={"repo_id": "acme/gifnet"})
    assert url.endswith("/commit/abc") and seen["repo"] == "acme/gifnet" and seen["revision"] == "v2"
    assert seen["files"] == ["README.md", "config.json", "model.safetensors"]
    assert seen["config"] == {"config": GIFNetConfig().to_dict()}
    assert 'load_model("acme/gifnet")' in seen["card"]
    assert same_weights(hub.load_model(tmp_path / "pushed"), m)


# ------------------------------------------------------------------------------------------- Hub cache, offline
def seed_hub_cache(cache: Path, repo: str, commits: dict[str, GIFNet], refs: dict[str, str]) -> None:
    """The Hugging Face cache layout: models--org--name/{refs/<name> -> sha, snapshots/<sha>/<files>}."""
    root = cache / ("models--" + repo.replace("/", "--"))
    for sha, model in commits.items():
        hub.save_weights(model, root / "snapshots" / sha)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    for name, sha in refs.items():
        (root / "refs" / name).write_text(sha)


@pytest.fixture
def hub_cache(clean_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    new, old = random_model(10), random_model(11)
    seed_hub_cache(clean_env / "hf-cache", "acme/gifnet", commits={SHA_MAIN: new, SHA_OLD: old},
                   refs={"main": SHA_MAIN, "v1": SHA_OLD})
    return new, old


def test_hub_id_from_cache_with_revision_pinning(hub_cache):
    new, old = hub_cache
    assert same_weights(hub.load_model("acme/gifnet"), new)                 # refs/main
    assert same_weights(hub.load_model(f"acme/gifnet@{SHA_OLD}"), old)      # a pinned commit
    assert same_weights(hub.load_model("acme/gifnet@v1"), old)              # a tag
    assert same_weights(hub.load_model("acme/gifnet@main"), new)
    assert same_weights(GIFNet.from_pretrained("acme/gifnet", revision="v1", local_files_only=True,
                                               cache_dir=hub.hf_cache_dir()), old)


def test_offline_and_not_cached_says_so(hub_cache):
    for spec in ("acme/other-model", "acme/gifnet@v9", f"acme/gifnet@{'3' * 40}"):
        with pytest.raises(GifnetError, match=r"not in the local Hugging Face cache .* offline mode is on") as e:
            hub.load_model(spec)
        assert spec in str(e.value) and "hf-cache" in str(e.value)


def test_unreachable_hub_fails_at_once_with_the_cache_location(hub_cache, monkeypatch):
    """No offline variable set but the Hub cannot be reached (here: a closed loopback port): the cache is used at once
    instead of half a minute of retries; a cached id loads, a missing one says where it looked."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                   # closed again when the block ends: connections are refused
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert not hub.hub_reachable()
    assert same_weights(hub.load_model("acme/gifnet@v1"), hub_cache[1])
    with pytest.raises(GifnetError, match=rf"127.0.0.1:{port}\) cannot be reached .* in \S*hf-cache"):
        hub.load_model("acme/missing")


def test_gifnet_offline_also_keeps_the_hub_offline(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("GIFNET_OFFLINE", "1")
    assert same_weights(hub.load_model("acme/gifnet@v1"), hub_cache[1])
    with pytest.raises(GifnetError, match="offline mode is on"):
        hub.load_model("acme/missing")


def test_local_folder_wins_over_a_hub_id(hub_cache, tmp_path, monkeypatch):
    m = random_model(12)
    hub.save_weights(m, tmp_path / "acme" / "gifnet")
    monkeypatch.chdir(tmp_path)
    assert same_weights(hub.load_model("acme/gifnet"), m)


# ----------------------------------------------------------------------------------------- GIFNET_WEIGHTS overrides
def test_gifnet_weights_overrides_the_default(hub_cache, monkeypatch, tmp_path):
    new, old = hub_cache
    monkeypatch.setenv("GIFNET_WEIGHTS", "acme/gifnet@v1")
    assert same_weights(hub.load_model(), old)
    assert same_weights(hub.load_model(None), old)
    m = random_model(13)
    hub.save_weights(m, tmp_path / "mine")
    monkeypatch.setenv("GIFNET_WEIGHTS", str(tmp_path / "mine"))
    assert same_weights(hub.load_model(), m)
    assert same_weights(hub.load_model("acme/gifnet"), new)       # an explicit source still wins


def test_gifnet_weights_reaches_pipeline_and_cli(hub_cache, monkeypatch, tmp_path):
    """The variable is honoured by everything that loads the default weights: pipeline.fuse/enhance and the CLI."""
    from gifnet.image import read_image, write_image

    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (24, 32), dtype=np.uint8) for _ in range(2))
    write_image(a, tmp_path / "a.png")
    write_image(b, tmp_path / "b.png")
    _, old = hub_cache
    expected = pipeline.fuse(a, b, model=old)
    assert not np.array_equal(expected, pipeline.fuse(a, b, model=hub_cache[0]))   # the two models differ
    monkeypatch.setenv("GIFNET_WEIGHTS", "acme/gifnet@v1")
    assert np.array_equal(pipeline.fuse(a, b), expected)
    assert np.array_equal(pipeline.enhance(a), pipeline.enhance(a, model=old))
    assert cli.main(["fuse", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png")]) == 0
    assert np.array_equal(read_image(tmp_path / "f.png")[0], read_image(expected)[0])
    monkeypatch.setenv("GIFNET_WEIGHTS", "acme/not-cached")
    assert cli.main(["fuse", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "g.png")]) == 2
    assert not (tmp_path / "g.png").exists()


def test_default_is_the_official_checkpoint(clean_env, shared, monkeypatch):
    ckpt = shared / "checkpoints/official/Final.model"
    monkeypatch.setenv("GIFNET_OFFICIAL_URL", ckpt.resolve().as_uri())
    assert hub.DEFAULT_WEIGHTS == "official" or Path(hub.DEFAULT_WEIGHTS).exists()
    if hub.DEFAULT_WEIGHTS == "official":
        assert same_weights(hub.load_model(), hub.load_model(ckpt))
    # the authors' checkpoint round-trips through our one format
    hub.save_weights(hub.load_model(ckpt), clean_env / "converted")
    assert same_weights(hub.load_model(clean_env / "converted"), hub.load_model(ckpt))


def test_a_clone_uses_the_bundled_weights_by_default(monkeypatch):
    monkeypatch.delenv("GIFNET_WEIGHTS", raising=False)
    assert (hub.BUNDLED_WEIGHTS / "model.safetensors").is_file() and hub.DEFAULT_WEIGHTS == hub.BUNDLED_WEIGHTS
    assert same_weights(gifnet.load_model(), gifnet.load_model(hub.BUNDLED_WEIGHTS))
