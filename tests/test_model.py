"""The network: parity with the authors' checkpoint on every case of ../shared/parity, the key map, shapes, limits."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gifnet.errors import GifnetError
from gifnet.model import (OFFICIAL_BUFFERS, OFFICIAL_UNUSED, GIFNet, convert_official_state_dict, official_key_map,
                          relative_positions)

PARITY_CASES = ["ivif_llvip_crop", "medical_pet_mri", "meif_over_under", "mfif_near_far", "nirvis", "remote_ms1_pan"]


@pytest.fixture(scope="module")
def official(shared):
    return torch.load(shared / "checkpoints/official/Final.model", weights_only=True, map_location="cpu")


@pytest.fixture(scope="module")
def model(official):
    m = GIFNet().eval()
    m.load_state_dict(convert_official_state_dict(official), strict=True)
    return m


@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_with_release(model, shared, case):
    d = shared / "parity" / case
    a = np.asarray(Image.open(d / "net_in_a.png"), dtype=np.float32) / 255
    b = np.asarray(Image.open(d / "net_in_b.png"), dtype=np.float32) / 255
    ref = np.load(d / "net_out_y255.npy").squeeze()
    with torch.no_grad():
        out = model(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])[0, 0].numpy() * 255
    assert out.shape == ref.shape == tuple(json.loads((d / "case.json").read_text())["shape"])
    assert np.abs(out - ref).max() <= 0.05


def test_key_map_accounts_for_every_checkpoint_tensor(official):
    key_map = official_key_map()
    assert set(key_map) | set(OFFICIAL_UNUSED) | set(OFFICIAL_BUFFERS) == set(official)
    assert sorted(key_map.values()) == sorted(GIFNet().state_dict())   # bijective onto our parameters
    for theirs, ours in key_map.items():
        assert official[theirs].shape == GIFNet().state_dict()[ours].shape


def test_key_map_round_trip(official):
    ours = convert_official_state_dict(official)
    inverse = {v: k for k, v in official_key_map().items()}
    back = {inverse[k]: v for k, v in ours.items()}
    for k, v in back.items():
        assert torch.equal(v, official[k].float())


def test_stored_relative_positions_match(official):
    for key in OFFICIAL_BUFFERS:
        assert torch.allclose(official[key], relative_positions(8), atol=1e-6)


def test_converter_rejects_foreign_checkpoint(official):
    broken = dict(official)
    broken.pop(next(iter(official_key_map())))
    broken["something.else"] = torch.zeros(3)
    with pytest.raises(GifnetError, match="missing keys.*unexpected|unexpected keys.*missing"):
        convert_official_state_dict(broken)
    wrong_shape = dict(official)
    k = "cnnDecoder.decoder.1.weight"
    wrong_shape[k] = torch.zeros(3, 3)
    with pytest.raises(GifnetError, match="shape"):
        convert_official_state_dict(wrong_shape)


def test_parameter_count():
    # the release reports 822,780 trainable parameters; 2 of them (the gates after block 1) are never used
    assert GIFNet().num_parameters() == 822_780 - 2


@pytest.mark.parametrize("hw", [(8, 8), (9, 13), (17, 31), (33, 8)])
def test_any_size_at_or_above_minimum(hw):
    torch.manual_seed(0)
    m = GIFNet().eval()
    a, b = torch.rand(2, 1, 1, *hw)
    with torch.no_grad():
        y = m(a, b)
    assert y.shape == (1, 1, *hw)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_below_minimum_size_is_a_clear_error():
    with pytest.raises(GifnetError, match="at least 8x8"):
        GIFNet()(torch.rand(1, 1, 7, 20), torch.rand(1, 1, 7, 20))


def test_mismatched_inputs_are_a_clear_error():
    with pytest.raises(GifnetError, match="one shape"):
        GIFNet()(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17))


def test_ivif_mode_runs_and_isolates_gradients():
    """Training's IVIF-main mode: with detach_other the MFIF branch of block 0 gets no gradient."""
    torch.manual_seed(0)
    m = GIFNet()
    f = m.encoder(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    t = m.transformer(f, f.detach(), mode="ivif", detach_other=True)
    t.sum().backward()
    blocks = m.transformer.blocks
    assert blocks[0].mfif.qk.weight.grad is None and blocks[1].mfif.qk.weight.grad is None
    assert blocks[0].ivif.qk.weight.grad is not None and m.transformer.gate_ivif.grad is not None
    assert m.transformer.gate_mfif.grad is None
