"""Sample images: a local GIFNET_SAMPLES folder, or the checksummed download (tested offline with file:// URLs)."""
from __future__ import annotations

import pytest

from gifnet import samples
from gifnet.errors import GifnetError
from gifnet.image import read_image


def test_local_folder(shared, monkeypatch):
    monkeypatch.setenv("GIFNET_SAMPLES", str(shared))
    for task in samples.SAMPLES:
        a, b = samples.sample_pair(task)
        assert a.is_file() and b.is_file()
    assert samples.dataset_folder("eval/tno") == shared / "datasets/eval/tno"
    assert samples.dataset_folder("eval/nothing") is None


def test_download_path_verifies_checksums(shared, tmp_path, monkeypatch):
    monkeypatch.delenv("GIFNET_SAMPLES", raising=False)
    monkeypatch.delenv("GIFNET_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("GIFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(samples, "SAMPLES_URL", (shared / "samples").as_uri() + "/")   # a file:// mirror
    a, b = samples.sample_pair("medical")
    assert a == tmp_path / "samples/Medical/pet/1.png" and read_image(a)[0].shape == (256, 256, 3)
    monkeypatch.setitem(samples.SAMPLES, "ivif", (("IVIF/ir/1.jpg", "0" * 64), samples.SAMPLES["ivif"][1]))
    with pytest.raises(GifnetError, match="sha256"):
        samples.sample_pair("ivif")


def test_unknown_task_and_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(GifnetError, match="no sample for task"):
        samples.sample_pair("sonar")
    monkeypatch.setenv("GIFNET_SAMPLES", str(tmp_path / "nope"))
    with pytest.raises(GifnetError, match="folder not found"):
        samples.sample_pair("ivif")
