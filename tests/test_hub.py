"""load_model: every kind of source, the checksummed download (offline: file:// and loopback), bad weights."""
from __future__ import annotations

import pickle

import pytest
import torch

import gifnet
from gifnet import hub
from gifnet.errors import GifnetError
from gifnet.model import GIFNet


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
    with pytest.raises(GifnetError, match="never pickled code"):
        gifnet.load_model(path)


@pytest.mark.parametrize("content,match", [(b"hello", "not a readable PyTorch state dict"), (None, "weights not found")])
def test_bad_sources(cache, tmp_path, content, match):
    path = tmp_path / "w.model"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GifnetError, match=match):
        gifnet.load_model(path)


def test_folder_without_weights_and_foreign_state_dict(cache, tmp_path):
    with pytest.raises(GifnetError, match="no model.safetensors"):
        gifnet.load_model(tmp_path)
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(GifnetError, match="not a GIFNet checkpoint"):
        gifnet.load_model(tmp_path / "other.pth")
