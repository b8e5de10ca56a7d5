"""Fast, exact, memory-bounded inference: GIFNet evaluated tile by tile on the CPU.

`infer(model, a, b, precision="fp32", tile=None)` returns what `model(a, b)` returns (to float rounding) for two
(H, W) planes of any size, holding only a tile's worth of activations at a time. `gifnet.pipeline.run_network` calls it.
`model.py` stays the readable reference and the training path; this module reuses its weights and is tested against it.

Why tiling GIFNet exactly takes care
  * Every convolution pads by mirroring at the *frame* border, the window attention mirrors too. A tile must therefore
    see real neighbouring pixels at its inner edges (a halo) and mirror only where the frame really ends. Here every
    layer is evaluated on a `Box` of frame coordinates and reads its input through `Patch.take`, which mirrors indices
    at the frame border and slices everywhere else. The full frame is simply the one-tile case of the same code.
  * There are two frames: the image (H, W), where the encoder and decoder mirror, and the transformer's frame
    (H4, W4), the image mirror-padded right/bottom to a multiple of 4, where the transformer mirrors.
  * Windows (8x8) tile the transformer frame from its origin, shifted by 4 in block 1; a box that attention must
    produce is widened to whole windows of that grid (`Box.snap`), so tiles never cut a window differently from the
    full frame.
  * Each RLN normalises with the mean and std of its whole input (over C, H4, W4): block 0's two branches and block 1's
    main branch. So inference runs in three passes over the tiles: (1) encoder + embeddings, accumulating block 0's
    statistics; (2) block 0 with those fixed, accumulating block 1's; (3) block 1, the unembedding and the decoder.
    A pass reads the previous pass's output from a kept full-frame copy when the memory budget allows ("keep"),
    otherwise it recomputes it on its tile plus halo (more time, memory bounded by the tile).

Speed (see BENCHMARKS.md): activations are (h, w, C) channels-last tensors, so 1x1 convolutions are plain matrix
products and 3x3 and depthwise ones use oneDNN's channels-last kernels (the (1, C, h, w) view must have proper
channels-last strides, or PyTorch takes a slow path); the 1x1 products run on blocks of rows that stay in cache and
accumulate residuals in place (GEMM with beta = 1); only the inference path is computed (block 1's IVIF half and
block 0's IVIF query are never used); the RLN's normalisation and rescale/rebias are folded into the neighbouring 1x1
weights once the statistics are known; the decoder's concat + 1x1 squeeze and its 1x1 expand are folded into the
adjacent 3x3 convolutions; attention uses `scaled_dot_product_attention` with the bias broadcast per window (which
selects PyTorch's fused CPU kernel). precision="bf16" runs the same graph with bfloat16 weights and activations
(AMX matrix units where present); statistics and the output stay float32. Tiles run on worker threads, one tile per
thread with single-threaded operators (`map_tiles`); `make_plan` picks tile size, what to keep and the number of
workers from a memory budget and a cost model.
"""
from __future__ import annotations

import contextlib
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import GifnetError
from .model import TRAINING_ONLY, GIFNet, partition, unpartition, window_attention

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
Tile = int | str | None


def check_precision(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise GifnetError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


# ------------------------------------------------------------------------------------------- boxes and mirrored reads
def mirror(i: int, n: int) -> int:
    """Index `i` of a frame of size `n`, reflected at its borders as F.pad(mode='reflect') does (one bounce only)."""
    if not -(n - 1) <= i <= 2 * (n - 1):
        raise ValueError(f"index {i} reflects more than once in a frame of size {n}")
    return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)


@dataclass(frozen=True)
class Box:
    """Half-open rectangle rows [y0, y1) x columns [x0, x1) in frame coordinates (may reach outside the frame)."""
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    def grow(self, n: int) -> "Box":
        return Box(self.y0 - n, self.y1 + n, self.x0 - n, self.x1 + n)

    def hull(self, other: "Box") -> "Box":
        return Box(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))

    def snap(self, window: int, offset: int) -> "Box":
        """Widen to whole windows of the grid whose window edges lie at offset + k * window."""
        lo = lambda v: offset + math.floor((v - offset) / window) * window   # noqa: E731
        hi = lambda v: offset + math.ceil((v - offset) / window) * window    # noqa: E731
        return Box(lo(self.y0), hi(self.y1), lo(self.x0), hi(self.x1))

    def mirrored(self, frame: tuple[int, int]) -> "Box":
        """The smallest box inside `frame` holding every pixel a mirrored read of this box touches."""
        ys = [mirror(i, frame[0]) for i in range(self.y0, self.y1)]
        xs = [mirror(i, frame[1]) for i in range(self.x0, self.x1)]
        return Box(min(ys), max(ys) + 1, min(xs), max(xs) + 1)


def grid(frame: tuple[int, int], tile: int) -> list[Box]:
    """Boxes of side `tile` (the last row/column smaller) partitioning the frame, in raster order."""
    h, w = frame
    return [Box(y, min(y + tile, h), x, min(x + tile, w)) for y in range(0, h, tile) for x in range(0, w, tile)]


@dataclass
class Patch:
    """An (h, w, C) tensor holding the pixels of `box` of a frame of size `frame`."""
    t: torch.Tensor
    box: Box
    frame: tuple[int, int]

    def take(self, box: Box) -> torch.Tensor:
        """The (h, w, C) pixels of `box`, mirrored where `box` leaves the frame. A view when no mirroring is needed."""
        t = _take(self.t, 0, box.y0, box.y1, self.frame[0], self.box.y0)
        return _take(t, 1, box.x0, box.x1, self.frame[1], self.box.x0)


def _take(t: torch.Tensor, dim: int, lo: int, hi: int, n: int, origin: int) -> torch.Tensor:
    """Frame indices [lo, hi) along `dim` of `t`, which holds frame indices [origin, origin + size), mirrored at the
    frame's ends. At most three runs: the mirrored head (frame indices -1, -2, ... are 1, 2, ...), the inside, and the
    mirrored tail (n, n + 1, ... are n - 2, n - 3, ...); a lone inside run is a view."""
    if lo < -(n - 1) or hi - 1 > 2 * (n - 1):
        raise ValueError(f"frame indices [{lo}, {hi}) reflect more than once in a frame of size {n}")
    runs = []                                    # (first, end, reversed) in frame indices
    if lo < 0:
        runs.append((1 - min(hi, 0), 1 - lo, True))
    if max(lo, 0) < min(hi, n):
        runs.append((max(lo, 0), min(hi, n), False))
    if hi > n:
        runs.append((2 * (n - 1) - (hi - 1), 2 * (n - 1) - max(lo, n) + 1, True))
    parts = []
    for first, end, backwards in runs:
        if first < origin or end > origin + t.shape[dim]:
            raise ValueError(f"frame indices [{first}, {end}) are not in this patch [{origin}, {origin + t.shape[dim]})")
        part = t.narrow(dim, first - origin, end - first)
        parts.append(part.flip(dim) if backwards else part)
    return parts[0] if len(parts) == 1 else concat(parts, dim)


def concat(parts: list[torch.Tensor], dim: int = -1) -> torch.Tensor:
    """torch.cat, but copying slice by slice into one new tensor: several times faster than torch.cat on CPU when the
    parts are strided views (crops), which is what tiles are made of."""
    shape = list(parts[0].shape)
    shape[dim] = sum(p.shape[dim] for p in parts)
    out = parts[0].new_empty(shape)
    start = 0
    for p in parts:
        out.narrow(dim, start, p.shape[dim]).copy_(p)
        start += p.shape[dim]
    return out


# --------------------------------------------------------------------------------------------------- tensor helpers
def conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """'valid' convolution of an (h, w, C) tensor -> (h - k + 1, w - k + 1, C'). With the weight in channels-last
    memory too (see `channels_last`), oneDNN runs its channels-last kernel without reordering anything."""
    x = x.contiguous()[None].permute(0, 3, 1, 2)       # (1, C, h, w) in channels-last memory, strides proper for N=1
    return F.conv2d(x, weight, bias, groups=groups)[0].permute(1, 2, 0)


def as_weight(w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A detached copy in `dtype`; convolution kernels in channels-last memory (see `conv`)."""
    w = w.detach().to(dtype)
    return w.contiguous(memory_format=torch.channels_last) if w.ndim == 4 else w.contiguous()


CHUNK = 2048      # pixels per block of the per-pixel products: a block's operands stay in the core's 2 MB L2 cache


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-pixel x @ weight + bias (a 1x1 convolution) for (h, w, C) x (a crop view is fine) and (C, C') weight ->
    contiguous (h, w, C'). Computed in blocks of rows (about CHUNK pixels): each block's copy of x and its product
    stay in cache instead of streaming whole tiles through memory twice."""
    h, w, c = x.shape
    out = x.new_empty(h, w, weight.shape[1])
    rows = max(1, CHUNK // w)
    for r in range(0, h, rows):
        torch.addmm(bias, x[r:r + rows].reshape(-1, c), weight, out=out[r:r + rows].view(-1, weight.shape[1]))
    return out


def mlp_(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
         chunk: int = CHUNK) -> torch.Tensor:
    """x += relu(x @ w1 + b1) @ w2 + b2 for a contiguous (h, w, C) x, in place, `chunk` pixels at a time: the hidden
    activations of a chunk stay in the core's cache and the residual sum costs no extra pass (GEMM accumulates)."""
    x2 = x.view(-1, x.shape[-1])
    for start in range(0, x2.shape[0], chunk):
        part = x2[start:start + chunk]
        hidden = torch.addmm(b1, part, w1).relu_()
        part.add_(b2).addmm_(hidden, w2)
    return x


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(h, w, C) with sides multiples of `window` -> (windows, window^2 tokens, C) (`gifnet.model.partition`)."""
    return partition(x[None], window).contiguous()


def from_windows(x: torch.Tensor, h: int, window: int) -> torch.Tensor:
    """Inverse of `to_windows` (`gifnet.model.unpartition`)."""
    return unpartition(x, 1, h, window)[0]


# ------------------------------------------------------------------------------------- weights in inference form
class ParameterReader:
    """The model's parameters by name, detached, remembering which were read: `EngineWeights.consumed` is the declared
    mapping from the engine's weights to the model (every parameter is read here or listed in model.TRAINING_ONLY)."""

    def __init__(self, model: GIFNet):
        self.model, self.params, self.read = model, dict(model.named_parameters()), set()

    def __call__(self, name: str) -> torch.Tensor:
        self.read.add(name)
        return self.params[name].detach()

    def module(self, name: str) -> torch.nn.Module:
        """A sub-module to call as it is (its parameters all count as read)."""
        self.read.update(n for n in self.params if n.startswith(name + "."))
        return self.model.get_submodule(name)


@dataclass
class BranchWeights:
    """One branch of a block (model.Branch) as inference uses it: the projections it needs ("qkv" or "kv", as x @ W),
    the RLN's parameters to fold in once the statistics are known, the depthwise conv, the output projection, the MLP."""
    w_in: torch.Tensor
    b_in: torch.Tensor
    norm: tuple[torch.Tensor, ...]        # weight, bias, meta_scale weight, bias, meta_shift weight, bias (all (C,))
    dwconv: tuple[torch.Tensor, torch.Tensor]
    proj: tuple[torch.Tensor, torch.Tensor]
    mlp: tuple[torch.Tensor, ...]

    @classmethod
    def of(cls, read: ParameterReader, branch: str, outputs: str) -> "BranchWeights":
        """`branch`: the model.Branch's name, e.g. "transformer.blocks.0.mfif"."""
        p = lambda name: read(f"{branch}.{name}")                        # noqa: E731
        matrix = lambda name: p(f"{name}.weight")[:, :, 0, 0].t()       # noqa: E731  a 1x1 conv as x @ W
        w_qk, b_qk = matrix("qk"), p("qk.bias")
        d = w_qk.shape[1] // 2
        parts = {"q": (w_qk[:, :d], b_qk[:d]), "k": (w_qk[:, d:], b_qk[d:]), "v": (matrix("v"), p("v.bias"))}
        norm = tuple(p(f"norm.{n}").flatten() for n in ("weight", "bias", "meta_scale.weight", "meta_scale.bias",
                                                         "meta_shift.weight", "meta_shift.bias"))
        return cls(torch.cat([parts[c][0] for c in outputs], 1), torch.cat([parts[c][1] for c in outputs]), norm,
                   (p("dwconv.weight"), p("dwconv.bias")), (matrix("proj"), p("proj.bias")),
                   (matrix("mlp.0"), p("mlp.0.bias"), matrix("mlp.2"), p("mlp.2.bias")))

    def fold(self, mean: float, std: float, dtype: torch.dtype) -> "Folded":
        """Fold RLN with statistics (mean, std) into the projections (in float64, then cast):
        x_n = x * a + c with a = weight / std, c = bias - mean * a, so  x_n @ W + b = x @ (a W) + (c @ W + b);
        the attention output's rescale/rebias scale the output projection's columns and shift its bias."""
        d64 = lambda t: t.detach().double()   # noqa: E731
        nw, nb, sw, sb, hw, hb = map(d64, self.norm)
        a = nw / std
        c = nb - mean * a
        w_in, b_in = d64(self.w_in), d64(self.b_in)
        rescale, rebias = sw * std + sb, hw * mean + hb
        pw, pb = d64(self.proj[0]), d64(self.proj[1])
        cast = lambda t: as_weight(t, dtype)   # noqa: E731
        return Folded(cast(a[:, None] * w_in), cast(c @ w_in + b_in),
                      (cast(d64(self.dwconv[0])), cast(d64(self.dwconv[1]))),
                      (cast(pw * rescale), cast(pb * rescale + rebias)),
                      tuple(cast(d64(t)) for t in self.mlp))


@dataclass
class Folded:
    w_in: torch.Tensor
    b_in: torch.Tensor
    dwconv: tuple[torch.Tensor, torch.Tensor]
    proj: tuple[torch.Tensor, torch.Tensor]
    mlp: tuple[torch.Tensor, ...]


class EngineWeights:
    """The inference path's weights, cast to `dtype`, with the exact algebraic folds described in the module doc, and
    the network's geometry (from model.config). `consumed`: the names of the model parameters read."""

    def __init__(self, model: GIFNet, dtype: torch.dtype):
        cfg = model.config
        self.dtype, self.dim, self.heads, self.window = dtype, cfg.dim, cfg.num_heads, cfg.window
        self.shift, self.frame_multiple, self.dw_reach = cfg.shift, cfg.frame_multiple, cfg.dw_kernel // 2
        if cfg.depth != 2:
            raise GifnetError(f"tiled inference supports the release's depth-2 transformer, got depth {cfg.depth}")
        p = ParameterReader(model)
        d64 = lambda t: t.double()                                      # noqa: E731
        cast = lambda t: as_weight(t, dtype)                            # noqa: E731
        conv = lambda name: (cast(p(f"{name}.weight")), cast(p(f"{name}.bias")))   # noqa: E731
        self.encoder = [conv(f"encoder.convs.{i}") for i in range(len(model.encoder.convs))]
        t = "transformer."
        self.embed = (cast(torch.cat([p(t + "embed_ivif.weight"), p(t + "embed_mfif.weight")])),  # out: [ivif | mfif]
                      cast(torch.cat([p(t + "embed_ivif.bias"), p(t + "embed_mfif.bias")])))
        self.block0 = {"mfif": BranchWeights.of(p, t + "blocks.0.mfif", "qkv"),
                       "ivif": BranchWeights.of(p, t + "blocks.0.ivif", "kv")}     # borrows the MFIF query
        self.block1 = BranchWeights.of(p, t + "blocks.1.mfif", "qkv")             # IVIF half never reaches the output
        self.bias0, self.bias1 = (cast(p.module(f"{t}blocks.{i}.rel_bias")().detach()) for i in (0, 1))
        self.gate = float(p(t + "gate_mfif"))
        self.eps = tuple(model.get_submodule(f"{t}blocks.{b}.{br}.norm").eps for b, br in ((0, "mfif"), (0, "ivif"),
                                                                                         (1, "mfif")))
        # decoder: squeeze(cat(F, T)) = F @ W_F + T @ W_T, and T @ W_T = (W_T o unembed)(x): one 3x3 conv
        w_sq = d64(p("decoder.squeeze.weight")[:, :, 0, 0])              # (98 out, 196 in)
        w_f, w_t = w_sq[:, :self.dim], w_sq[:, self.dim:]
        self.squeeze_f = cast(w_f.t())
        self.unembed = (cast(torch.einsum("oc,cikl->oikl", w_t, d64(p(t + "unembed.weight")))),
                        cast(w_t @ d64(p(t + "unembed.bias"))))
        # expand (1x1, no bias) followed by the first 3x3 conv: one 3x3 conv (1x1 convs commute with mirroring)
        names = [f"decoder.decoder.{i}" for i, m in enumerate(model.decoder.decoder) if m in model.decoder.decoder.convs()]
        w_e = d64(p("decoder.expand.weight")[:, :, 0, 0])                # (128 out, 98 in)
        first = (cast(torch.einsum("ockl,ci->oikl", d64(p(names[0] + ".weight")), w_e)), cast(p(names[0] + ".bias")))
        self.decoder = [first] + [conv(n) for n in names[1:]]
        self.consumed = frozenset(p.read)


def training_only(name: str) -> bool:
    """Whether a model parameter is one the inference path never reads (model.TRAINING_ONLY)."""
    return name.startswith(TRAINING_ONLY)


# ------------------------------------------------------------------------------------------------ the three passes
@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations of a set of values; `+` merges two sets (Chan et al.), in float64."""
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, x: torch.Tensor) -> "Moments":
        # per-pixel sums and norms in float32, summed in float64: accurate (a single float32 torch.linalg.vector_norm
        # over millions of values is not) and ~10x faster than torch.var_mean on CPU
        x = x.float()
        n = x.numel()
        total = float(x.sum(dim=-1).double().sum())
        squares = float(torch.linalg.vector_norm(x, dim=-1).double().square().sum())
        return cls(n, total / n, max(squares - total * total / n, 0.0))

    def __add__(self, other: "Moments") -> "Moments":
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * other.n / n, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    def stats(self, eps: float) -> tuple[float, float]:
        """(mean, std) as RLN computes them: std = sqrt(mean((x - mean)^2) + eps)."""
        return self.mean, math.sqrt(self.m2 / self.n + eps)


Provider = Callable[[Box], Patch]


class Runner:
    """The network on boxes of one image. `src` is the (H, W, 2) pair of planes. Frames: image (H, W) for the encoder
    and decoder; transformer (H4, W4), the image mirror-padded right/bottom to a multiple of 4."""

    def __init__(self, net: EngineWeights, src: torch.Tensor):
        h, w = src.shape[:2]
        self.net, self.d = net, net.dim
        self.frame, self.frame4 = (h, w), frame4(h, w, net.frame_multiple)
        self.src = Patch(src, Box(0, h, 0, w), self.frame)
        self.b0: dict[str, Folded] = {}      # block 0's branches, RLN folded: set after pass 1
        self.b1: Folded | None = None     # block 1's MFIF branch: set after pass 2

    # encoder and embeddings (pass 1) ---------------------------------------------------------------------------
    def encode(self, box: Box) -> Patch:
        """F = [x, x1, x2, x3] (98 ch) on `box` of the image frame; layer i reads all earlier maps on its box + 1."""
        fr = self.frame
        b2 = box.grow(1).mirrored(fr)
        b1 = b2.grow(1).mirrored(fr)
        b0 = b1.grow(1).mirrored(fr)
        feats = [Patch(self.src.take(b0), b0, fr)]
        for (w, b), out_box in zip(self.net.encoder, (b1, b2, box)):
            x = concat([p.take(out_box.grow(1)) for p in feats])
            feats.append(Patch(conv(x, w, b).relu_(), out_box, fr))
        return Patch(concat([p.take(box) for p in feats]), box, fr)

    def embed(self, box: Box) -> Patch:
        """[x_ivif | x_mfif] (196 ch): both branches' 3x3 embeddings of F, on `box` of the transformer frame."""
        need4 = box.grow(1).mirrored(self.frame4)
        f = self.encode(need4.mirrored(self.frame))
        f4 = Patch(f.take(need4), need4, self.frame4)        # frame-4 pixels past the image mirror the image
        return Patch(conv(f4.take(box.grow(1)), *self.net.embed), box, self.frame4)

    # transformer blocks (passes 2 and 3) ------------------------------------------------------------------------
    def attend(self, x: torch.Tensor, need: Box, box: Box, wbox: Box, br: Folded, bias: torch.Tensor,
               query: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One branch of a block on `box`: x holds the branch's input on `need`, which covers the windows `wbox` and
        box + 2 (the depthwise conv's reach). Returns the branch's output on `box` and its projections in window
        order (windows of wbox, T, [q] k v) so that another branch can borrow the query."""
        d, fr4, win = self.d, self.frame4, self.net.window
        proj = Patch(linear(x, br.w_in, br.b_in), need, fr4)                   # [q] k v, RLN folded in
        y = conv(proj.take(box.grow(self.net.dw_reach))[..., -d:], *br.dwconv, groups=d)     # depthwise 5x5 on v
        qkv = to_windows(proj.take(wbox), win)
        del proj                                                                # (peak memory)
        q = (qkv if query is None else query)[..., :d]
        att = window_attention(q, qkv[..., -2 * d:-d], qkv[..., -d:], bias, self.net.heads)
        y += Patch(from_windows(att, wbox.shape[0], win), wbox, fr4).take(box)
        del att
        out = torch.add(Patch(x, need, fr4).take(box), br.proj[1])             # x + proj(y) * rescale + rebias:
        out.view(-1, d).addmm_(y.view(-1, d), br.proj[0])                       # accumulated in place
        del y
        return mlp_(out, *br.mlp), qkv

    def block0(self, embedded: Provider, box: Box) -> Patch:
        """Block 0 (unshifted windows) in MFIF-main mode on `box` of the transformer frame: both branches, the IVIF one
        attending with the MFIF query, then x_mfif + gate * x_ivif."""
        wbox = box.snap(self.net.window, 0)
        need = wbox.hull(box.grow(self.net.dw_reach)).mirrored(self.frame4)
        x = embedded(need).take(need)
        d = self.d
        x_m, proj_m = self.attend(x[..., d:], need, box, wbox, self.b0["mfif"], self.net.bias0)
        x_i, _ = self.attend(x[..., :d], need, box, wbox, self.b0["ivif"], self.net.bias0, query=proj_m)
        return Patch(x_m.add_(x_i, alpha=self.net.gate), box, self.frame4)

    def block1(self, block0: Provider, box: Box) -> Patch:
        """Block 1 (windows shifted by half a window), MFIF branch only, on `box` of the transformer frame."""
        wbox = box.snap(self.net.window, self.net.shift)
        need = wbox.hull(box.grow(self.net.dw_reach)).mirrored(self.frame4)
        x, _ = self.attend(block0(need).take(need), need, box, wbox, self.b1, self.net.bias1)
        return Patch(x, box, self.frame4)

    # unembedding and decoder (pass 3) ----------------------------------------------------------------------------
    def decode(self, block0: Provider, box: Box) -> torch.Tensor:
        """The fused image (float32, in [0, 1]) on `box` of the image frame."""
        fr, net = self.frame, self.net
        boxes = [box]                                   # where each decoder layer's input is needed, output first
        for _ in net.decoder:
            boxes.append(boxes[-1].grow(1).mirrored(fr))
        bz = boxes[-1]                                  # z = relu(F @ W_F + (W_T o unembed)(x)) is needed here
        x = self.block1(block0, bz.grow(1).mirrored(self.frame4))
        t = conv(x.take(bz.grow(1)), *net.unembed)
        t.view(-1, self.d).addmm_(self.encode(bz).t.view(-1, self.d), net.squeeze_f)    # + F @ W_F, in place
        z = Patch(t.relu_(), bz, fr)
        for i, (w, b) in enumerate(net.decoder):
            out_box = boxes[-2 - i]
            y = conv(z.take(out_box.grow(1)), w, b)
            z = Patch(y.relu_() if i < len(net.decoder) - 1 else y, out_box, fr)
        return torch.tanh(z.t.float()[..., 0]) / 2 + 0.5


# ------------------------------------------------------------------------------------------------ planning, driver
@dataclass(frozen=True)
class Plan:
    """How one image is run: square tiles of side `tile` (a multiple of 8; one tile when it covers the frame) and
    which passes' full-frame outputs are kept in memory ("embed": 196 ch, "block0": 98 ch) instead of recomputed."""
    tile: int
    keep: tuple[str, ...]
    bytes: int = 0             # estimated peak working memory (see `estimate`)
    workers: int = 1           # tiles run at once, each on one thread (see `map_tiles`)


def infer(model: GIFNet, a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor,
          *, precision: str = "fp32", tile: Tile = None, plan: Plan | None = None) -> np.ndarray:
    """Fuse two (H, W) float planes in [0, 1] (slot a, slot b) -> the (H, W) float32 network output.
    `tile`: None/"auto" (from available memory, see `make_plan`), "full" (one tile), or a side in pixels."""
    dtype = check_precision(precision)
    a, b = (torch.as_tensor(np.asarray(p, dtype=np.float32)) if not torch.is_tensor(p) else p.float() for p in (a, b))
    if a.ndim != 2 or a.shape != b.shape:
        raise GifnetError(f"inputs must be two (H, W) planes of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    h, w = a.shape
    if min(h, w) < model.config.min_size:
        n = model.config.min_size
        raise GifnetError(f"image is {w}x{h} pixels; GIFNet needs at least {n}x{n}; upscale it first")
    plan = plan or make_plan(h, w, precision=precision, tile=tile)
    device = next(model.parameters()).device
    with torch.inference_mode(), _true_fp32(device.type == "cuda" and dtype == torch.float32):
        run = Runner(EngineWeights(model, dtype), torch.stack([a, b], dim=-1).to(device, dtype))
        return _run(run, plan).cpu().numpy()


@contextlib.contextmanager
def _true_fp32(on: bool):
    """fp32 on a CUDA GPU means fp32: cuDNN's TensorFloat-32 convolutions (on by default in PyTorch, 10-bit
    mantissas) are switched off while the engine runs, so GPU results match the release like the CPU's."""
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = saved and not on
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def _run(run: Runner, plan: Plan) -> torch.Tensor:
    net, d = run.net, run.d
    tiles4, tiles = grid(run.frame4, plan.tile), grid(run.frame, plan.tile)
    bar = progress(2 * len(tiles4) + len(tiles), run.frame)

    # pass 1: encoder + embeddings everywhere -> statistics of block 0's RLN inputs (IVIF and MFIF branches)
    device = run.src.t.device
    keep_embed = _Keeper(run.frame4, 2 * d, net.dtype, "embed" in plan.keep, len(tiles4), device)

    def pass1(box: Box) -> tuple[Moments, Moments]:
        x = run.embed(box)
        keep_embed.put(x)
        bar.update()
        return Moments.of(x.t[..., :d]), Moments.of(x.t[..., d:])

    m_ivif, m_mfif = (sum(m, Moments()) for m in zip(*map_tiles(pass1, tiles4, plan.workers)))
    run.b0 = {k: net.block0[k].fold(*m.stats(net.eps[0]), net.dtype) for k, m in (("ivif", m_ivif), ("mfif", m_mfif))}
    embedded = keep_embed.provider(run.embed)

    # pass 2: block 0 everywhere -> statistics of block 1's RLN input
    keep_block0 = _Keeper(run.frame4, d, net.dtype, "block0" in plan.keep, len(tiles4), device)

    def pass2(box: Box) -> Moments:
        x = run.block0(embedded, box)
        keep_block0.put(x)
        bar.update()
        return Moments.of(x.t)

    run.b1 = net.block1.fold(*sum(map_tiles(pass2, tiles4, plan.workers), Moments()).stats(net.eps[2]), net.dtype)
    keep_embed = embedded = None        # freed: pass 3 recomputes block 0 from scratch when its output is not kept
    block0 = keep_block0.provider(lambda box: run.block0(run.embed, box))

    # pass 3: block 1, unembedding, decoder -> the image
    out = torch.empty(run.frame, device=run.src.t.device)

    def pass3(box: Box) -> None:
        out[box.y0:box.y1, box.x0:box.x1] = run.decode(block0, box)
        bar.update()

    map_tiles(pass3, tiles, plan.workers)
    bar.close()
    return out


def map_tiles(fn: Callable[[Box], object], boxes: list[Box], workers: int) -> list:
    """[fn(box) for box in boxes], on `workers` threads that each run whole tiles with single-threaded operators.
    Two tiles in parallel scale better than two threads inside every operator (no barrier after each small op, and
    no stall when another process preempts one thread); results come back in order, so sums are deterministic."""
    if workers <= 1 or len(boxes) < 2:
        return [fn(box) for box in boxes]

    def task(box: Box):
        with torch.inference_mode():
            return fn(box)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(task, boxes))
    finally:
        torch.set_num_threads(threads)


class _Keeper:
    """A pass's output kept for the next pass as one full-frame patch (filled tile by tile), or not kept at all."""

    def __init__(self, frame: tuple[int, int], channels: int, dtype: torch.dtype, keep: bool, n_tiles: int,
                 device: torch.device):
        self.frame, self.keep, self.single = frame, keep, n_tiles == 1
        self.patch: Patch | None = None
        if keep and not self.single:
            self.patch = Patch(torch.empty(*frame, channels, dtype=dtype, device=device), Box(0, frame[0], 0, frame[1]),
                               frame)

    def put(self, x: Patch) -> None:
        if self.single:
            self.patch = x                   # one tile: its output is the full frame, keep it as it is
        elif self.keep:
            self.patch.t[x.box.y0:x.box.y1, x.box.x0:x.box.x1] = x.t

    def provider(self, recompute: Provider) -> Provider:
        if self.keep or self.single:
            return lambda box: self.patch
        return recompute


def progress(total: int, frame: tuple[int, int]):
    """A tqdm bar over the tile steps of a large image (hidden for a few tiles, and when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"fusing {frame[1]}x{frame[0]}", unit="tile", leave=False,
                disable=True if total < 12 else None)


DEFAULT_TILE = 128       # tile side used by "auto" (the fastest measured on a 2-core Xeon; see BENCHMARKS.md)
MIN_TILE = 32
KEEP_OPTIONS = (("embed", "block0"), ("block0",), ())       # most memory (fastest) first
# Peak working memory of one tile, in bytes per pixel of the tile grown by its halo (measured, with a margin; see
# BENCHMARKS.md).
TILE_BYTES_PER_PIXEL = {"fp32": 7_500, "bf16": 6_500}
HALO = {2: 8, 1: 16, 0: 32}      # reach of the recomputed layers around a tile, by number of kept passes (rounded up)
# Work per output pixel relative to keeping both passes, from the layers' FLOPs: not keeping the embeddings recomputes
# the encoder and embeddings once more (+30 %); keeping nothing also recomputes block 0 and its embeddings (+86 %).
RECOMPUTE = {2: 1.0, 1: 1.30, 0: 1.86}
ONE_WORKER = 1.8                 # cost of one tile at a time on all threads vs one tile per thread (barriers per op;
                                 # measured, fp32 without kept passes: 256-px tiles on one worker were 1.8x slower)


def frame4(h: int, w: int, multiple: int = 4) -> tuple[int, int]:
    """The transformer's frame: (h, w) mirror-padded right/bottom to a multiple of `multiple` (the config's
    frame_multiple; the planner's estimates use the release's 4)."""
    return h + (-h) % multiple, w + (-w) % multiple


def _tile_area(h: int, w: int, tile: int, keep: tuple[str, ...]) -> tuple[int, int]:
    """(pixels of one tile, pixels of that tile grown by its halo)."""
    h4, w4 = frame4(h, w)
    th, tw = min(tile, h4), min(tile, w4)
    halo = 0 if tile >= max(h4, w4) else HALO[len(keep)]
    return th * tw, (th + 2 * halo) * (tw + 2 * halo)


def estimate(h: int, w: int, precision: str, tile: int, keep: tuple[str, ...], *, workers: int = 1) -> int:
    """Estimated peak working memory (bytes) of `infer` on an h x w image with this plan: the activations of the
    tiles in flight, the kept passes' full-frame outputs, and the input/output planes."""
    esize = torch.finfo(check_precision(precision)).bits // 8
    h4, w4 = frame4(h, w)
    one = tile >= max(h4, w4)
    work = TILE_BYTES_PER_PIXEL[precision] * _tile_area(h, w, tile, keep)[1]
    work *= 1 if one else min(workers, len(grid((h4, w4), tile)))
    kept = 0 if one else h4 * w4 * esize * ((2 if "embed" in keep else 0) + (1 if "block0" in keep else 0)) * 98
    return work + kept + h * w * (2 * esize + 12)


def cost(h: int, w: int, plan: Plan, threads: int) -> float:
    """Relative time per pixel of a plan: recomputation x halo overhead, x ONE_WORKER when the tiles do not run in
    parallel. A model of the measurements in BENCHMARKS.md, used only to rank plans."""
    h4, w4 = frame4(h, w)
    if plan.tile >= max(h4, w4):
        return 1.0 if max(h4, w4) <= DEFAULT_TILE * 3 // 2 else 2.0      # one tile: fine if small, cache-bound if not
    inner, grown = _tile_area(h, w, plan.tile, plan.keep)
    return RECOMPUTE[len(plan.keep)] * grown / inner * (ONE_WORKER if plan.workers < min(threads, 2) else 1.0)


def make_plan(h: int, w: int, *, precision: str = "fp32", tile: Tile = None, budget: int | None = None,
              threads: int | None = None) -> Plan:
    """Choose tiles and what to keep for an h x w image: the cheapest plan (`cost`) whose estimated memory stays
    within `budget` bytes (None: unlimited). tile: None/"auto" (one tile for small images, else tiles of
    DEFAULT_TILE, twice that when nothing can be kept, smaller ones when the budget is tight), "full" (one tile: the
    whole image at once) or a side in pixels (rounded up to a multiple of 8). Runs `threads` (default: torch's) tiles
    at once where that pays. Returns the leanest plan when nothing fits (the caller decides to refuse)."""
    check_precision(precision)
    threads = threads or torch.get_num_threads()
    full = max(frame4(h, w))
    if tile in (None, "auto"):
        sides = [full] if full <= DEFAULT_TILE * 3 // 2 else [2 * DEFAULT_TILE, DEFAULT_TILE, DEFAULT_TILE // 2, MIN_TILE]
    elif tile == "full":
        sides = [full]
    else:
        try:
            side = int(tile)
        except (TypeError, ValueError):
            side = 0
        if side < 8:
            raise GifnetError(f"tile must be 'auto', 'full' or a side of at least 8 pixels, got {tile!r}")
        sides = [min(-(-side // 8) * 8, -(-full // 8) * 8)]
    plans = [Plan(s, k, estimate(h, w, precision, s, k, workers=n), n) for s in sides for k in KEEP_OPTIONS
             for n in sorted({threads, 1}, reverse=True)
             if not (tile in (None, "auto") and s > DEFAULT_TILE and k)]     # big tiles only pay when nothing is kept
    fitting = [p for p in plans if budget is None or p.bytes <= budget]
    if not fitting:
        return min(plans, key=lambda p: p.bytes)
    return min(fitting, key=lambda p: (cost(h, w, p, threads), p.bytes))
