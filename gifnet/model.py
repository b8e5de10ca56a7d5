"""GIFNet, readable top to bottom (CVPR 2025, "One Model for ALL: Low-Level Task Interaction Is a Key to Task-Agnostic
Image Fusion").

    a, b (N,1,H,W) in [0,1]
      -> SharedEncoder            F  (N,98,H,W)    dense 3-layer CNN on cat(a, b)
      -> TwoBranchTransformer     T  (N,98,H,W)    an IVIF branch and an MFIF branch that talk through
                                                   a shared query (block 0) and a learned gate
      -> FusionDecoder(F, T)      y  (N,1,H,W)     tanh output mapped to [0,1]
    Reconstruction(F)             r  (N,1,H,W)     training-only auxiliary branch

No layer changes resolution. Every padding is reflection padding. The transformer runs in one of two modes: "mfif"
(MFIF-main, used at inference) or "ivif" (IVIF-main, the training step on infrared/visible pairs); in each mode only
the main branch of the last block reaches the output, so the other half is not computed. While `gifnet export`
traces it (`exporting()`), padding, windows, attention and the RLN statistics take a form ONNX can hold for any size.

Parameter names are ours; `load_official_state_dict` maps the authors' `Final.model` onto them (see OFFICIAL_KEY_MAP).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors.torch import load_file, save_file

from .card import AUTHORS_CODE_URL, CITATION, MODEL_CARD, PAPER_URL
from .errors import GifnetError
from .files import atomic_write, write_text

log = logging.getLogger(__name__)


@dataclass
class GIFNetConfig:
    in_channels: int = 1        # each source is one channel (grey or Y)
    enc_channels: int = 32      # per encoder layer; F has 2 + 3*32 = 98 channels
    num_heads: int = 2          # attention heads (head dim 49)
    window: int = 8             # attention window side (64 tokens)
    mlp_ratio: int = 2          # MLP hidden = 196
    depth: int = 2              # transformer blocks (block i is shifted by `shift` when i is odd)
    bias_hidden: int = 256      # relative-position bias MLP width
    min_size: int = 8           # smallest H or W the network accepts
    frame_multiple: int = 4     # the transformer mirror-pads H and W (right/bottom) to a multiple of this
    dw_kernel: int = 5          # side of the depthwise convolution applied to the attention's values

    @property
    def dim(self) -> int:
        """Channels of the shared features F and of the transformer: the pair plus three encoder layers."""
        return 2 * self.in_channels + 3 * self.enc_channels

    @property
    def shift(self) -> int:
        """How far the windows of odd blocks are shifted (half a window)."""
        return self.window // 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GIFNetConfig":
        """From a config.json's content: `{"config": {...}}` (what `save_pretrained` writes) or the bare fields.
        Unknown fields are ignored with a warning (a newer gifnet may have added them)."""
        if not isinstance(data, dict):
            raise GifnetError(f"config must be a JSON object, got {type(data).__name__}")
        data = data.get("config", data)
        if not isinstance(data, dict):
            raise GifnetError(f"config.json: 'config' must be a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        if set(data) - known:
            log.warning("config.json: ignoring unknown fields %s", sorted(set(data) - known))
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise GifnetError(f"config.json: invalid GIFNet config ({e})") from None


# ---------------------------------------------------------------------------------------------- reflection padding
class _ReflectPad(torch.autograd.Function):
    """`F.pad(x, pads, mode="reflect")` with a backward that folds the border gradients back onto the image with a few
    slice additions; PyTorch's generic backward is several times slower on channels-last maps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
        ctx.pads = pads
        return _pad(x, pads)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        left, right, top, bottom = ctx.pads
        h, w = g.shape[-2] - top - bottom, g.shape[-1] - left - right

        layout = torch.channels_last if g.stride(1) == 1 else torch.contiguous_format

        def fold_columns(rows: torch.Tensor) -> torch.Tensor:   # (..., W + left + right) -> (..., W)
            out = rows[..., left:left + w].clone(memory_format=layout)
            if left:
                out[..., 1:left + 1] += rows[..., :left].flip(-1)
            if right:
                out[..., w - 1 - right:w - 1] += rows[..., left + w:].flip(-1)
            return out

        gx = fold_columns(g[..., top:top + h, :])
        if top:
            gx[..., 1:top + 1, :] += fold_columns(g[..., :top, :]).flip(-2)
        if bottom:
            gx[..., h - 1 - bottom:h - 1, :] += fold_columns(g[..., top + h:, :]).flip(-2)
        return gx, None


def _pad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    with torch.autocast(x.device.type, enabled=False):     # autocast would pad in fp32 (two extra casts)
        return F.pad(x, pads, mode="reflect")


def reflect_pad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Reflection padding by (left, right, top, bottom) pixels, each smaller than the side it mirrors."""
    if not any(pads):
        return x
    if torch.is_grad_enabled() and x.requires_grad:
        return _ReflectPad.apply(x, pads)
    return _pad(x, pads)


def cat_channels(maps: list[torch.Tensor]) -> torch.Tensor:
    """`torch.cat(maps, dim=1)` of (N,C,H,W) maps, as a channels-last map (torch.cat would return NCHW)."""
    return torch.cat([m.permute(0, 2, 3, 1) for m in maps], dim=3).permute(0, 3, 1, 2)


class ReflectConv2d(nn.Conv2d):
    """A convolution on the reflection-padded input (the release's `padding_mode="reflect"`), "same" output size."""

    def __init__(self, cin: int, cout: int, kernel: int, *, groups: int = 1, bias: bool = True):
        super().__init__(cin, cout, kernel, groups=groups, bias=bias)
        self.reach = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(reflect_pad(x, (self.reach,) * 4), self.weight, self.bias)


def conv3x3_reflect(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return ReflectConv2d(cin, cout, 3, bias=bias)


class SharedEncoder(nn.Module):
    """Dense CNN on the stacked pair: each layer sees the input and all previous layers' outputs."""

    def __init__(self, cfg: GIFNetConfig):
        super().__init__()
        c0, c = 2 * cfg.in_channels, cfg.enc_channels
        self.convs = nn.ModuleList([conv3x3_reflect(c0 + i * c, c) for i in range(3)])

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        feats = [cat_channels([a, b])]                             # (N,2,H,W)
        for conv in self.convs:
            feats.append(F.relu(conv(cat_channels(feats))))        # (N,32,H,W) each
            feats[0] = feats[0].to(feats[-1].dtype)                # under autocast: bf16 features throughout
        return cat_channels(feats)                                 # (N,98,H,W)


class ConvDecoder(nn.Sequential):
    """(reflect-pad 1, 3x3 conv, ReLU) x3 then 3x3 conv -> 1 channel and tanh. Output in [-1, 1]."""

    def __init__(self, cin: int, widths: tuple[int, ...] = (64, 32, 16)):
        layers, c = [], cin
        for w in widths:
            layers += [conv3x3_reflect(c, w), nn.ReLU()]
            c = w
        super().__init__(*layers, conv3x3_reflect(c, 1), nn.Tanh())

    def convs(self) -> list[nn.Conv2d]:
        """The convolutions in order (a ReLU follows each but the last, which is followed by tanh)."""
        return [m for m in self if isinstance(m, nn.Conv2d)]


class RLN(nn.Module):
    """Re-scaled LayerNorm over (C,H,W) of each sample. Returns the normalised map and a per-channel rescale and rebias
    predicted from the statistics (used to undo the normalisation on the attention output)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.meta_scale = nn.Conv2d(1, dim, 1)   # std -> rescale
        self.meta_shift = nn.Conv2d(1, dim, 1)   # mean -> rebias

    def forward(self, x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None = None):
        if stats is None:
            stats = self.statistics(x)
        mean, std = stats                                         # (N,1,1,1) each
        scale = self.weight.to(x.dtype) / std                     # (N,C,1,1): xn = (x - mean) / std * w + b
        xn = torch.addcmul(self.bias.to(x.dtype) - mean * scale, x, scale)
        return xn, self.meta_scale(std), self.meta_shift(mean)

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if exporting():    # means of row means of column means: ONNX Runtime would sum the whole map in one float32
            means = lambda t: t.mean(3, keepdim=True).mean(2, keepdim=True).mean(1, keepdim=True)   # noqa: E731
            mean = means(x)    # run (4e-6 off at 0.3 MP: up to 3 grey levels in the output) where torch sums pairwise
            return mean, torch.sqrt(means((x - mean).square()) + self.eps)
        var, mean = torch.var_mean(x, dim=(1, 2, 3), correction=0, keepdim=True)
        return mean, torch.sqrt(var + self.eps)


def relative_positions(window: int) -> torch.Tensor:
    """(T,T,2) log-spaced offsets between the T = window^2 tokens of a window (row-major): sign(d) * log(1 + |d|)
    with d = position(i) - position(j) as (dy, dx)."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], dim=-1).float()      # (T,2)
    d = pos[:, None, :] - pos[None, :, :]                                 # (T,T,2)
    return torch.sign(d) * torch.log1p(d.abs())


class RelativePositionBias(nn.Module):
    """A small MLP turning window offsets into one additive attention bias per head: (heads, T, T)."""

    def __init__(self, cfg: GIFNetConfig):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2, cfg.bias_hidden), nn.ReLU(), nn.Linear(cfg.bias_hidden, cfg.num_heads))
        self.register_buffer("positions", relative_positions(cfg.window), persistent=False)

    def forward(self) -> torch.Tensor:
        return rearrange(self.mlp(self.positions), "i j h -> h i j")


class Branch(nn.Module):
    """The weights of one task branch inside a block: norm, attention projections, depthwise conv, MLP."""

    def __init__(self, cfg: GIFNetConfig):
        super().__init__()
        d = cfg.dim
        self.norm = RLN(d)
        self.qk = nn.Conv2d(d, 2 * d, 1)
        self.v = nn.Conv2d(d, d, 1)
        self.dwconv = ReflectConv2d(d, d, cfg.dw_kernel, groups=d)
        self.proj = nn.Conv2d(d, d, 1)
        self.mlp = nn.Sequential(nn.Conv2d(d, cfg.mlp_ratio * d, 1), nn.ReLU(), nn.Conv2d(cfg.mlp_ratio * d, d, 1))


def window_pads(h: int, w: int, window: int, shift: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) reflection padding that puts an (h, w) map on the window grid: unshifted, right/bottom
    to a multiple of the window; shifted, `shift` pixels on the top/left and the rest on the bottom/right."""
    pad_b, pad_r = (-h) % window, (-w) % window
    if shift:
        return shift, (window - shift + pad_r) % window, shift, (window - shift + pad_b) % window
    return 0, pad_r, 0, pad_b


def partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(N, H, W, C) maps with H, W multiples of `window` -> (N * windows, window^2, C) tokens, windows and tokens
    row-major. From channels-last memory this copies runs of window * C values."""
    return rearrange(x, "n (wy p1) (wx p2) c -> (n wy wx) (p1 p2) c", p1=window, p2=window)


def unpartition(t: torch.Tensor, n: int, h: int, window: int) -> torch.Tensor:
    """Inverse of `partition`: (N * windows, window^2, C) tokens -> (N, H, W, C)."""
    return rearrange(t, "(n wy wx) (p1 p2) c -> n (wy p1) (wx p2) c", n=n, wy=h // window, p1=window, p2=window)


def exporting() -> bool:
    """True while torch.export traces the model (`gifnet export` goes through it): sizes are then symbolic. Padding,
    cropping, window partition, attention and the RLN statistics then take the forms below, made of standard
    operators, with no branch and no slice on a size (the shape solver would tie the graph to the traced size), each
    move of pixels one Gather: the same function (tests/test_onnx.py compares the two)."""
    return torch.compiler.is_exporting()


def _mirror(i: torch.Tensor, n: int) -> torch.Tensor:
    """Indices reflected into [0, n) as reflection padding reflects them (one bounce)."""
    return (n - 1) - ((n - 1) - i.abs()).abs()


def _window_grid(n: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """(windows, window) indices of a side of n pixels padded onto the window grid (`window_pads`), mirrored."""
    first = torch.arange((n + shift + window - 1) // window, device=device)[:, None] * window - shift
    return _mirror(first + torch.arange(window, device=device), n)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Export path: the pixels `index` (of the flattened H*W plane) of an (N,C,H,W) map -> (*index.shape, N, C),
    as one Gather of whole pixels (indexing a later axis would make the exporter transpose it to the front and back)."""
    return x.permute(2, 3, 0, 1).flatten(0, 1)[index]


def mirrored_crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """Export path: rows [top, top + h) and columns [left, left + w) of an (N,C,H,W) map, mirrored past its borders
    as reflection padding does: a pad where the range leaves the map, a crop inside."""
    n_rows, n_cols = x.shape[-2:]
    rows = _mirror(torch.arange(top, top + h, device=x.device), n_rows)
    cols = _mirror(torch.arange(left, left + w, device=x.device), n_cols)
    return _gather(x, rows[:, None] * n_cols + cols).permute(2, 3, 0, 1)


def pad_to_grid(x: torch.Tensor, grid: int, *, before: int = 0) -> torch.Tensor:
    """Export path: `before` pixels mirrored on the top/left and as many as it takes on the bottom/right to reach a
    multiple of `grid`; what `reflect_pad(x, window_pads(..))` and the transformer's padding to 4 give."""
    h, w = x.shape[-2:]
    return mirrored_crop(x, -before, -before, (h + before + grid - 1) // grid * grid,
                         (w + before + grid - 1) // grid * grid)


def to_windows(x: torch.Tensor, window: int, shift: int) -> torch.Tensor:
    """(N,C,H,W) -> (N * windows, window^2, C) tokens of the reflection-padded map (see `window_pads`). While
    exporting: (N, rows, columns of windows, window^2, C), padding and partition in one Gather (a merged symbolic size
    could not be split again)."""
    if exporting():
        h, w = x.shape[-2:]
        rows, cols = _window_grid(h, window, shift, x.device), _window_grid(w, window, shift, x.device)
        index = (rows[:, None, :, None] * w + cols[None, :, None, :]).flatten(2)     # (wy, wx, window^2)
        return _gather(x, index).permute(3, 0, 1, 2, 4)
    x = reflect_pad(x, window_pads(*x.shape[-2:], window, shift))
    return partition(x.permute(0, 2, 3, 1), window)


def from_windows(t: torch.Tensor, n: int, h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Inverse of `to_windows`, cropped back to (N,C,H,W) (a channels-last map)."""
    if exporting():                    # un-partition and crop in one Gather: pixel (y, x) <- its window and token
        _, _, wx, tokens, _ = t.shape
        ys = torch.arange(h, device=t.device)[:, None] + shift
        xs = torch.arange(w, device=t.device) + shift
        index = ((ys // window) * wx + xs // window) * tokens + (ys % window) * window + xs % window      # (h, w)
        return t.permute(1, 2, 3, 0, 4).flatten(0, 2)[index].permute(2, 3, 0, 1)
    left, _, top, bottom = window_pads(h, w, window, shift)
    x = unpartition(t, n, h + top + bottom, window)
    return x[:, top:top + h, left:left + w].permute(0, 3, 1, 2)


class _WindowAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d) + bias) v per window and head, with a hand-written backward: PyTorch's attention falls
    back to a slow generic path when the bias needs a gradient. q, k, v: (B, T, C) tokens, heads taking consecutive
    channel groups; bias (heads, T, T). Returns (B, T, C)."""

    @staticmethod
    @torch.autocast("cpu", enabled=False)
    @torch.autocast("cuda", enabled=False)
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, heads: int):
        b, t, c = q.shape
        d = c // heads
        scale = d ** -0.5
        k, v = k.to(q.dtype), v.to(q.dtype)                  # one precision throughout (autocast is off in here)
        outs, probs = [], []
        for i in range(heads):
            s = slice(i * d, (i + 1) * d)
            logits = torch.baddbmm(bias[i].to(q.dtype).expand(b, t, t), q[..., s], k[..., s].transpose(1, 2),
                                   alpha=scale)                              # (B,T,T)
            p = torch.softmax(logits, dim=-1)
            outs.append(torch.bmm(p, v[..., s]))                             # (B,T,d)
            probs.append(p)
        ctx.heads, ctx.scale, ctx.bias_dtype = heads, scale, bias.dtype
        ctx.save_for_backward(q, k, v, *probs)
        return torch.cat(outs, dim=-1)

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        q, k, v, *probs = ctx.saved_tensors
        need_q, need_k, need_v, need_bias, _ = ctx.needs_input_grad
        d = q.shape[-1] // ctx.heads
        dq, dk, dv, dbias = [], [], [], []
        for i, p in enumerate(probs):
            s = slice(i * d, (i + 1) * d)
            do = dout[..., s].to(p.dtype)
            dv.append(torch.bmm(p.transpose(1, 2), do))
            dlogits = torch.ops.aten._softmax_backward_data(torch.bmm(do, v[..., s].transpose(1, 2)), p, -1, p.dtype)
            if need_bias:
                dbias.append(dlogits.sum(0, dtype=torch.float32))
            dlogits = dlogits * ctx.scale
            dq.append(torch.bmm(dlogits, k[..., s]))
            dk.append(torch.bmm(dlogits.transpose(1, 2), q[..., s]))
        cat = lambda parts, need: torch.cat(parts, dim=-1) if need else None   # noqa: E731
        return (cat(dq, need_q), cat(dk, need_k), cat(dv, need_v),
                torch.stack(dbias).to(ctx.bias_dtype) if need_bias else None, None)


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor,
                     heads: int) -> torch.Tensor:
    """Multi-head attention inside windows: q, k, v (B, T, C) tokens (views are fine), bias (heads, T, T) -> (B, T, C).
    Without gradients, PyTorch's fused attention (a (1, heads, T, T) mask keeps it on the fused CPU kernel; a 3-d one
    does not); with them, `_WindowAttention`. While exporting, `_WindowAttention`'s forward in plain operators, on
    tokens with any leading dims (see `to_windows`)."""
    if exporting():
        d = q.shape[-1] // heads
        heads_out = []
        for i in range(heads):
            s = slice(i * d, (i + 1) * d)
            p = torch.softmax(torch.matmul(q[..., s], k[..., s].transpose(-1, -2)) * d ** -0.5 + bias[i], dim=-1)
            heads_out.append(torch.matmul(p, v[..., s]))
        return torch.cat(heads_out, dim=-1)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, bias)):
        return _WindowAttention.apply(q, k, v, bias, heads)
    split = lambda t: rearrange(t, "b t (heads d) -> b heads t d", heads=heads)   # noqa: E731
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=bias.to(q.dtype)[None])
    return rearrange(out, "b heads t d -> b t (heads d)")


class Block(nn.Module):
    """One transformer block holding both branches. For a branch x: (xn, s, b) = RLN(x);
    x = x + Attn(xn) * s + b; x = x + MLP(x). The relative-position bias MLP is shared by the two branches."""

    def __init__(self, cfg: GIFNetConfig, shift: int):
        super().__init__()
        self.cfg, self.shift = cfg, shift
        self.ivif, self.mfif = Branch(cfg), Branch(cfg)
        self.rel_bias = RelativePositionBias(cfg)

    def branch(self, name: str) -> Branch:
        return self.ivif if name == "ivif" else self.mfif

    def project(self, br: Branch, x: torch.Tensor, query: bool = True):
        """Norm and projections of one branch: q (if `query`) and k as window tokens (B,T,C), v as a map (N,C,H,W)
        (the depthwise conv needs it there), and the RLN's rescale and rebias."""
        xn, rescale, rebias = br.norm(x)
        tokens = to_windows(xn, self.cfg.window, self.shift)                   # (B,T,C)
        w_q, w_k = br.qk.weight.flatten(1).chunk(2)
        b_q, b_k = br.qk.bias.chunk(2)
        q = F.linear(tokens, w_q, b_q) if query else None
        return q, F.linear(tokens, w_k, b_k), br.v(xn), rescale, rebias

    def finish(self, br: Branch, x: torch.Tensor, q, k, v, rescale, rebias, bias: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        attn = window_attention(q, k, to_windows(v, self.cfg.window, self.shift), bias, self.cfg.num_heads)
        attn = from_windows(attn, n, h, w, self.cfg.window, self.shift)       # (N,C,H,W)
        x = x + br.proj(br.dwconv(v) + attn) * rescale + rebias
        return x + br.mlp(x)

    def forward_single(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Only one branch, using its own query (the last block at inference)."""
        br = self.branch(name)
        q, k, v, s, b = self.project(br, x)
        return self.finish(br, x, q, k, v, s, b, self.rel_bias())

    def forward_shared_query(self, main: str, x_main: torch.Tensor, x_other: torch.Tensor, detach_other: bool = False):
        """Both branches, the other branch attending with the *main* branch's query (block 0)."""
        other = "mfif" if main == "ivif" else "ivif"
        bm, bo = self.branch(main), self.branch(other)
        bias = self.rel_bias()
        qm, km, vm, sm, rm = self.project(bm, x_main)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not detach_other):
            _, ko, vo, so, ro = self.project(bo, x_other, query=False)
            x_other = self.finish(bo, x_other, qm, ko, vo, so, ro, bias)
        return self.finish(bm, x_main, qm, km, vm, sm, rm, bias), x_other


class TwoBranchTransformer(nn.Module):
    """Task-interaction transformer. mode="mfif" (inference): block 0 runs both branches with the IVIF branch borrowing
    the MFIF query, then x_mfif += gate_mfif * x_ivif; block 1 runs the MFIF branch alone. mode="ivif" mirrors it."""

    def __init__(self, cfg: GIFNetConfig):
        super().__init__()
        d = cfg.dim
        self.embed_ivif = conv3x3_reflect(d, d)
        self.embed_mfif = conv3x3_reflect(d, d)
        self.blocks = nn.ModuleList([Block(cfg, shift=cfg.shift * (i % 2)) for i in range(cfg.depth)])
        self.gate_ivif = nn.Parameter(torch.zeros(1))   # how much MFIF feeds IVIF (mode "ivif")
        self.gate_mfif = nn.Parameter(torch.zeros(1))   # how much IVIF feeds MFIF (mode "mfif")
        self.unembed = conv3x3_reflect(d, d)
        self.frame_multiple = cfg.frame_multiple

    def forward(self, f_ivif: torch.Tensor, f_mfif: torch.Tensor, mode: str = "mfif",
                detach_other: bool = False) -> torch.Tensor:
        if mode not in ("ivif", "mfif"):
            raise ValueError(f"mode must be 'ivif' or 'mfif', got {mode!r}")
        h, w = f_ivif.shape[-2:]
        m = self.frame_multiple
        pad = (0, (-w) % m, 0, (-h) % m)                                   # right/bottom to a multiple of 4
        f_main, f_other = (f_mfif, f_ivif) if mode == "mfif" else (f_ivif, f_mfif)
        embed_main, embed_other = ((self.embed_mfif, self.embed_ivif) if mode == "mfif"
                                   else (self.embed_ivif, self.embed_mfif))
        to_frame = (lambda f: pad_to_grid(f, m)) if exporting() else (lambda f: reflect_pad(f, pad))   # noqa: E731
        main = embed_main(to_frame(f_main))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not detach_other):
            other = embed_other(to_frame(f_other))
        gate = self.gate_mfif if mode == "mfif" else self.gate_ivif
        for i, block in enumerate(self.blocks):
            if i == 0:
                main, other = block.forward_shared_query(mode, main, other, detach_other)
                main = main + gate.to(other.dtype) * other
            elif i < len(self.blocks) - 1:
                raise NotImplementedError("the release uses depth 2; deeper stacks are not defined")
            else:
                main = block.forward_single(mode, main)
        if exporting():
            return mirrored_crop(self.unembed(main), 0, 0, h, w)
        return self.unembed(main)[:, :, :h, :w]                            # (N,98,H,W)


class FusionDecoder(nn.Module):
    """cat(F, T) -> 1x1 196->98 (no bias), ReLU, 1x1 98->128 (no bias) -> ConvDecoder -> (tanh + 1) / 2."""

    def __init__(self, cfg: GIFNetConfig):
        super().__init__()
        d = cfg.dim
        self.squeeze = nn.Conv2d(2 * d, d, 1, bias=False)
        self.expand = nn.Conv2d(d, 128, 1, bias=False)
        self.decoder = ConvDecoder(128)

    def forward(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        z = self.expand(F.relu(self.squeeze(cat_channels([f, t]))))       # (N,128,H,W)
        return self.decoder(z) / 2 + 0.5                                  # (N,1,H,W) in [0,1]


WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class GIFNet(nn.Module, PyTorchModelHubMixin,
             library_name="gifnet", pipeline_tag="image-to-image", license="mit",
             tags=["image-fusion", "infrared-visible-fusion", "multi-focus-fusion", "multi-exposure-fusion",
                   "medical-image-fusion", "pansharpening", "image-enhancement", "gifnet", "cvpr2025"],
             repo_url=AUTHORS_CODE_URL, paper_url=PAPER_URL, model_card_template=MODEL_CARD,
             coders={GIFNetConfig: (GIFNetConfig.to_dict, GIFNetConfig.from_dict)}):
    """`model(a, b)`: two (N,1,H,W) sources in [0,1] -> the fused (N,1,H,W) image in [0,1]. Slot order matters
    (see gifnet.pipeline.TASKS).

    Hugging Face Hub: `save_pretrained(folder)`, `push_to_hub("org/name")` and `GIFNet.from_pretrained("org/name",
    revision=...)` come from `PyTorchModelHubMixin`. A saved model is one folder, the only format gifnet writes:
        config.json        {"config": {...GIFNetConfig fields...}}
        model.safetensors  every parameter, contiguous float32, our names
        README.md          the model card (gifnet/card.py)
    Loading is strict: a missing, extra or mis-shaped tensor is an error, never silently ignored.
    """

    def __init__(self, config: GIFNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or GIFNetConfig()
        self.encoder = SharedEncoder(cfg)
        self.transformer = TwoBranchTransformer(cfg)
        self.decoder = FusionDecoder(cfg)
        self.reconstruction = ConvDecoder(cfg.dim)   # training-only auxiliary branch

    def check_inputs(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if a.ndim != 4 or a.shape[1] != self.config.in_channels or a.shape != b.shape:
            raise GifnetError(f"model inputs must both be (N,1,H,W) tensors of one shape, got {tuple(a.shape)} and "
                              f"{tuple(b.shape)}")
        if min(a.shape[-2:]) < self.config.min_size:
            raise GifnetError(f"image is {a.shape[-1]}x{a.shape[-2]} pixels; GIFNet needs at least "
                              f"{self.config.min_size}x{self.config.min_size}")

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        self.check_inputs(a, b)
        f = self.encoder(a, b)                          # (N,98,H,W)
        t = self.transformer(f, f, mode="mfif")         # (N,98,H,W)
        return self.decoder(f, t)                       # (N,1,H,W)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------------------- Hub mixin hooks (one format)
    def _save_pretrained(self, save_directory: Path, metadata: dict | None = None) -> None:
        """Write config.json and model.safetensors (`metadata`: optional str -> str notes in the safetensors header)."""
        save_directory = Path(save_directory)
        write_text(save_directory / CONFIG_NAME, json.dumps({"config": self.config.to_dict()}, indent=2) + "\n")
        state = {k: v.detach().float().contiguous().cpu() for k, v in self.state_dict().items()}
        notes = {k: str(v) for k, v in (metadata or {}).items()}
        atomic_write(save_directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata=notes))

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir, force_download: bool,
                         local_files_only: bool, token, map_location: str = "cpu", strict: bool = True,
                         config: GIFNetConfig | dict | None = None, **model_kwargs) -> "GIFNet":
        """The mixin calls this with `config` decoded from config.json; we find model.safetensors (a folder or the Hub
        cache/download) and load it strictly."""
        if isinstance(config, dict):
            config = GIFNetConfig.from_dict(config)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS_NAME)
            if not os.path.isfile(weights):
                raise GifnetError(f"{model_id}: no {WEIGHTS_NAME} in this folder; pass a folder written by "
                                  "save_pretrained / gifnet.hub.save_weights")
        else:
            from huggingface_hub import hf_hub_download

            weights = hf_hub_download(model_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir, token=token,
                                      force_download=force_download, local_files_only=local_files_only)
        model = cls(config, **model_kwargs)
        try:
            state = load_file(weights, device=str(map_location))
        except Exception as e:
            raise GifnetError(f"{weights}: not a readable safetensors file ({e})") from None
        model.load_state_matching(state, source=f"{model_id}@{revision}" if revision else model_id, strict=strict)
        return model.eval()

    def load_state_matching(self, state: dict, source: str = "weights", strict: bool = True) -> None:
        """`load_state_dict` whose mismatch error is one actionable line (GifnetError) instead of a RuntimeError."""
        try:
            self.load_state_dict(state, strict=strict)
        except RuntimeError as e:
            first = str(e).splitlines()[1:2] or [str(e)]
            raise GifnetError(f"{source}: weights do not fit GIFNet ({first[0].strip()[:160]})") from None

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        """The model card (gifnet/card.py); `kwargs` are the template's optional fields."""
        kwargs.setdefault("citation", CITATION)
        return super().generate_model_card(*args, **kwargs)


# Parameters the inference path (`GIFNet.forward`, mode "mfif") never reads: the reconstruction branch, the IVIF-main
# gate and block 1's IVIF branch train the network only. Every other parameter is read by the tiled engine
# (gifnet.tiling.EngineWeights records what it reads; tests/test_tiling.py checks that the two sets partition the
# parameters).
TRAINING_ONLY = ("reconstruction.", "transformer.gate_ivif", "transformer.blocks.1.ivif.")


# ------------------------------------------------------------------------------------------- the authors' checkpoint
_T = "extractor_multask.SwinTransformerSpecific."
# Checkpoint tensors the release stores but never uses in any forward pass (the gate after block 1 in either mode).
OFFICIAL_UNUSED = (_T + "layer1.weights.1", _T + "layer1.weights_mfif.1")
# Constant buffers in the checkpoint that we compute instead; loading checks they match.
OFFICIAL_BUFFERS = {_T + f"layer1.blocks.{i}.attn.attn.relative_positions": f"transformer.blocks.{i}.rel_bias.positions"
                    for i in range(2)}


def official_key_map() -> dict[str, str]:
    """authors' key -> our key, for every parameter of GIFNet."""
    m = {f"getSharedFeatures.conv_{i + 1}.conv2d.{p}": f"encoder.convs.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    for ours, theirs in (("reconstruction", "decoder_rec.decoder"), ("decoder.decoder", "cnnDecoder.decoder")):
        for i, j in enumerate((1, 4, 7, 10)):
            for p in ("weight", "bias"):
                m[f"{theirs}.{j}.{p}"] = f"{ours}.{2 * i}.{p}"
    m["cnnDecoder.fuseComplementFeatures.mlp.0.weight"] = "decoder.squeeze.weight"
    m["cnnDecoder.fuseComplementFeatures.mlp.2.weight"] = "decoder.expand.weight"
    for p in ("weight", "bias"):
        m[f"{_T}patch_embed_ivif.proj.{p}"] = f"transformer.embed_ivif.{p}"
        m[f"{_T}patch_embed_mfif.proj.{p}"] = f"transformer.embed_mfif.{p}"
        m[f"{_T}patch_unembed.proj.0.{p}"] = f"transformer.unembed.{p}"
    m[f"{_T}layer1.weights.0"] = "transformer.gate_ivif"
    m[f"{_T}layer1.weights_mfif.0"] = "transformer.gate_mfif"
    # per-branch modules: the release's IVIF copy -> its MFIF copy -> our name
    per_branch = [("norm1", "norm1_mfif", "norm"), ("norm1.meta1", "norm1_mfif.meta1", "norm.meta_scale"),
                  ("norm1.meta2", "norm1_mfif.meta2", "norm.meta_shift"), ("attn.QK", "attn.QK_mfif", "qk"),
                  ("attn.V", "attn.V_mfif", "v"), ("attn.conv", "attn.conv_mfif", "dwconv"),
                  ("attn.proj", "attn.proj_mfif", "proj"), ("mlp.mlp.0", "mlp_mfif.mlp.0", "mlp.0"),
                  ("mlp.mlp.2", "mlp_mfif.mlp.2", "mlp.2")]
    for i in range(2):
        src, dst = f"{_T}layer1.blocks.{i}.", f"transformer.blocks.{i}."
        for p in ("weight", "bias"):
            for ivif, mfif, ours in per_branch:
                m[f"{src}{ivif}.{p}"] = f"{dst}ivif.{ours}.{p}"
                m[f"{src}{mfif}.{p}"] = f"{dst}mfif.{ours}.{p}"
            for j in (0, 2):  # Linear 2->256, ReLU, Linear 256->heads (shared by both branches)
                m[f"{src}attn.attn.meta.{j}.{p}"] = f"{dst}rel_bias.mlp.{j}.{p}"
    return m


def convert_official_state_dict(official: dict[str, torch.Tensor], *,
                                source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Map the authors' state dict onto our names. Every checkpoint tensor must be accounted for (mapped, a checked
    constant buffer, or one of the two documented unused gates), every parameter of ours must be filled, shapes must
    agree; otherwise a GifnetError lists what is wrong."""
    key_map = official_key_map()
    ours_shapes = {k: v.shape for k, v in GIFNet().state_dict().items()}
    problems = []
    unknown = set(official) - set(key_map) - set(OFFICIAL_UNUSED) - set(OFFICIAL_BUFFERS)
    missing = set(key_map) - set(official)
    if unknown:
        problems.append(f"unexpected keys {sorted(unknown)[:5]}")
    if missing:
        problems.append(f"missing keys {sorted(missing)[:5]}")
    out = {}
    for theirs, ours in key_map.items():
        if theirs not in official:
            continue
        t = official[theirs]
        if t.shape != ours_shapes[ours]:
            problems.append(f"{theirs}: shape {tuple(t.shape)}, expected {tuple(ours_shapes[ours])}")
        out[ours] = t.float()
    for theirs, window_key in OFFICIAL_BUFFERS.items():
        if theirs in official and not torch.allclose(official[theirs].float(), relative_positions(8), atol=1e-5):
            problems.append(f"{theirs}: relative positions differ from this implementation's")
    if set(out) != set(ours_shapes) and not problems:
        problems.append(f"parameters not filled: {sorted(set(ours_shapes) - set(out))[:5]}")
    if problems:
        raise GifnetError(f"{source}: not a GIFNet checkpoint of the release's layout: " + "; ".join(problems))
    return out
