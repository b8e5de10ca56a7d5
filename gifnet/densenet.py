"""DenseNet-121 (Huang et al. 2017) as a frozen feature extractor, for the release's information weights.

Defined here in plain torch (torchvision is not a dependency). Parameter names follow the `timm` layout of the hosted
ImageNet weights `timm/densenet121.tv_in1k` (the original torchvision weights, Apache-2.0; `model.safetensors`,
32.3 MB), so its `state_dict` loads without renaming:

    features.conv0, features.norm0       7x7/2 conv 3->64, batch norm (+ ReLU, then 3x3/2 max pool)
    features.denseblock{1..4}.denselayer{j}.{norm1,conv1,norm2,conv2}
                                         BN-ReLU-1x1 conv (-> 128) - BN-ReLU-3x3 conv (-> 32 new channels)
    features.transition{1..3}.{norm,conv}  BN-ReLU-1x1 conv (halves the channels), 2x2 average pool
    features.norm5                       final batch norm (+ ReLU)
    classifier                           1024 -> 1000 (not used here; ignored when loading)

`stages(x)` returns the five feature maps a `features_only` backbone exposes: the stem (stride 2) and the outputs of
dense blocks 1-3 (strides 4, 8, 16) and of the final norm (stride 32).
"""
from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from .errors import GifnetError

log = logging.getLogger(__name__)

HUB_REPO = "timm/densenet121.tv_in1k"
HUB_FILE = "model.safetensors"
IMAGENET_MEAN = (0.485, 0.456, 0.406)   # from the hosted config.json (pretrained_cfg.mean / std)
IMAGENET_STD = (0.229, 0.224, 0.225)
GROWTH, BOTTLENECK, BLOCKS, STEM = 32, 4, (6, 12, 24, 16), 64


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to 4*growth channels, BN-ReLU-3x3 conv to `growth` new channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, BOTTLENECK * GROWTH, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(BOTTLENECK * GROWTH)
        self.conv2 = nn.Conv2d(BOTTLENECK * GROWTH, GROWTH, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """Each layer sees the concatenation of the block input and every earlier layer's output."""

    def __init__(self, layers: int, cin: int):
        super().__init__({f"denselayer{j + 1}": DenseLayer(cin + j * GROWTH) for j in range(layers)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.values():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Module):
    """BN-ReLU-1x1 conv halving the channels, then 2x2 average pooling."""

    def __init__(self, cin: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cin // 2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.norm(x))), 2)


class DenseNet121(nn.Module):
    """Feature extractor; inputs are `(N,1,H,W)` grey or `(N,3,H,W)` RGB in [0, 1] (normalised inside)."""

    def __init__(self):
        super().__init__()
        feats: dict[str, nn.Module] = {"conv0": nn.Conv2d(3, STEM, 7, stride=2, padding=3, bias=False),
                                       "norm0": nn.BatchNorm2d(STEM)}
        c = STEM
        for i, n in enumerate(BLOCKS):
            feats[f"denseblock{i + 1}"] = DenseBlock(n, c)
            c += n * GROWTH
            if i < len(BLOCKS) - 1:
                feats[f"transition{i + 1}"] = Transition(c)
                c //= 2
        feats["norm5"] = nn.BatchNorm2d(c)
        self.features = nn.ModuleDict(feats)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five feature maps (strides 2, 4, 8, 16, 32)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        f = self.features
        x = F.relu(f["norm0"](f["conv0"]((x - self.mean) / self.std)))
        out = [x]
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        for i in range(1, 5):
            x = f[f"denseblock{i}"](x)
            if i < 4:
                out.append(x)
                x = f[f"transition{i}"](x)
        out.append(F.relu(f["norm5"](x)))
        return out


def load_state(model: DenseNet121, state: dict[str, torch.Tensor], source: str) -> DenseNet121:
    """Load a timm-layout DenseNet-121 state dict, checking every name and shape (the classifier is ignored,
    missing `num_batches_tracked` counters are fine)."""
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unknown = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(v.shape)}!={tuple(own[k].shape)}" for k, v in state.items()
             if k in own and v.shape != own[k].shape]
    if missing or unknown or wrong:
        raise GifnetError(f"{source}: not DenseNet-121 weights in timm layout (missing {missing[:3]}, unexpected "
                          f"{unknown[:3]}, wrong shapes {wrong[:3]}); use {HUB_REPO}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
    return model.eval().requires_grad_(False)


def load_densenet121(repo_id: str = HUB_REPO, revision: str = "main", cache_dir: str | os.PathLike | None = None,
                     local_files_only: bool = False, path: str | os.PathLike | None = None) -> DenseNet121:
    """ImageNet DenseNet-121: from a local `path` (a .safetensors file), or from the Hugging Face Hub
    (`repo_id`/`model.safetensors`, cached in the usual HF cache; `local_files_only=True` never touches the network)."""
    from safetensors.torch import load_file

    if path is None:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(repo_id, HUB_FILE, revision=revision, cache_dir=cache_dir,
                                   local_files_only=local_files_only)
        except Exception as e:  # offline, not cached, repo moved: one actionable message
            raise GifnetError(f"could not get {repo_id}/{HUB_FILE} from the Hugging Face Hub or its cache "
                              f"({type(e).__name__}); connect once to download it, pass a local .safetensors path, "
                              "or use the weight-free 'gradient' information weights") from None
    if not os.path.isfile(path):
        raise GifnetError(f"{path}: DenseNet-121 weights file not found")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise GifnetError(f"{path}: not a readable safetensors file ({e})") from None
    log.info("DenseNet-121 weights from %s", path)
    return load_state(DenseNet121(), state, str(path))
