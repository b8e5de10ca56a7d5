"""DenseNet-121 for the release's information weights: architecture, timm key layout, and the Hub download path
exercised offline through a pre-seeded Hugging Face cache holding random weights (no network)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gifnet.densenet import HUB_FILE, HUB_REPO, DenseNet121, load_densenet121
from gifnet.errors import GifnetError
from gifnet.losses import DenseNetEnergy, information_weights, make_information_source


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in tests")
    monkeypatch.setattr(socket.socket, "connect", refuse)


SHAPES = {k: v.shape for k, v in DenseNet121().state_dict().items()}


def random_hub_state(seed: int = 0, with_counters: bool = False) -> dict[str, torch.Tensor]:
    """What timm's model.safetensors holds (features.* + classifier.*), filled with random numbers."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in SHAPES.items():
        if k.endswith("num_batches_tracked"):
            if with_counters:
                state[k] = torch.tensor(1000)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.05
    state["classifier.weight"] = torch.randn(1000, 1024, generator=g)
    state["classifier.bias"] = torch.zeros(1000)
    return state


def seed_cache(cache: Path, state: dict[str, torch.Tensor], revision: str = "0" * 40) -> Path:
    """The huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<commit>/<file>}."""
    repo = cache / ("models--" + HUB_REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True)
    save_file(state, str(snap / HUB_FILE))
    return snap / HUB_FILE


def test_architecture_matches_densenet121():
    m = DenseNet121()
    assert sum(p.numel() for p in m.parameters()) == 6_953_856          # 7,978,856 with the 1024->1000 classifier
    convs = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Conv2d)]
    assert len(convs) == 120                                             # 121 layers = 120 convs + the classifier
    names = set(m.state_dict())
    for key in ("features.conv0.weight", "features.norm0.running_var", "features.denseblock3.denselayer24.conv2.weight",
                "features.transition3.conv.weight", "features.norm5.bias"):
        assert key in names
    stages = m.eval().stages(torch.rand(1, 1, 64, 64))
    assert [s.shape[1:] for s in stages] == [(64, 32, 32), (256, 16, 16), (512, 8, 8), (1024, 4, 4), (1024, 2, 2)]


@pytest.mark.parametrize("with_counters", [False, True])
@pytest.mark.parametrize("local_only", [True, False])   # False: the Hub is tried, the socket refuses, the cache serves
def test_loads_from_a_seeded_cache(tmp_path, with_counters, local_only):
    state = random_hub_state(1, with_counters)
    seed_cache(tmp_path, state)
    m = load_densenet121(cache_dir=tmp_path, local_files_only=local_only)
    own = m.state_dict()
    for k, v in state.items():
        if not k.startswith("classifier."):
            assert torch.equal(own[k], v), k
    assert not m.training and not any(p.requires_grad for p in m.parameters())


def test_information_source_from_the_cache(tmp_path):
    seed_cache(tmp_path, random_hub_state(2))
    src = make_information_source("densenet", cache_dir=tmp_path, local_files_only=True)
    assert isinstance(src, DenseNetEnergy)
    src.train()
    assert not src.network.training                      # batch norm stays in inference mode
    a, b = torch.rand(2, 1, 32, 32), torch.full((2, 1, 32, 32), 0.5)
    wa, wb = information_weights(a, b, src)
    assert torch.allclose(wa + wb, torch.ones(2)) and torch.isfinite(wa).all()


def test_missing_cache_is_an_actionable_error(tmp_path):
    with pytest.raises(GifnetError, match="Hugging Face Hub.*gradient"):
        load_densenet121(cache_dir=tmp_path, local_files_only=True)


def test_wrong_weights_are_rejected(tmp_path):
    state = random_hub_state(3)
    state["features.conv0.weight"] = torch.zeros(64, 1, 7, 7)
    del state["features.norm5.bias"]
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(GifnetError, match="norm5.bias") as e:
        load_densenet121(path=path)
    assert "conv0.weight" in str(e.value)
    with pytest.raises(GifnetError, match="not found"):
        load_densenet121(path=tmp_path / "absent.safetensors")
