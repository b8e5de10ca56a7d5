"""Train GIFNet: the release's two-step schedule, exact checkpoints, validation, fine-tuning, a save_pretrained folder.

Each batch of aligned crops (ir, vis, near, far; see `gifnet.data`) makes two Adam steps, as in the authors' release,
both through `Trainer.task_step`:

    1. IVIF step   F_i = E(ir, vis);  F_m = E(near, far) without gradient
                   out = D(F_i, T(F_i, F_m, mode="ivif", detach_other=True));  rec = R(F_i)
                   loss = w_ir*MSE(out, ir) + w_vis*MSE(out, vis) + 1 - MS-SSIM(rec, vis) + MSE(rec, vis)
    2. MFIF step   F_m = E(near, far);  F_i = E(ir, vis) without gradient
                   out = D(F_m, T(F_i, F_m, mode="mfif", detach_other=True));  rec = R(F_m)
                   loss = MSE(out, vis) + 1 - MS-SSIM(rec, vis) + MSE(rec, vis)
                   (+ mfif_ssim * (1 - SSIM(out, vis)) with `mfif_ssim`, off by default)
                   (+ anchor_weight * MSE(GIFNet(ir, vis), anchor network(ir, vis)) with `anchor`, off by default)

Gradient isolation: in each step only the main task's encoder pass and transformer branch receive gradients; the
other pair's features and the other branch are computed under no_grad (`detach_other`). `w_ir, w_vis` are the
information weights of `gifnet.losses` (weight-free gradient energy by default; `weights="densenet"` for the release's).

Checkpoints (`gifnet.checkpoint`, every `ckpt_every` steps and on Ctrl-C / SIGTERM) hold the model, optimiser, grad
scaler, every RNG state and the data position, so `Trainer.resume(out)` continues bit-identically (on the same device,
thread count and memory layout; floating-point reductions depend on them). `time_limit` ends a session cleanly for
background runs. At the end OUT holds a save_pretrained folder (config.json, model.safetensors, README.md: the model
card of gifnet/card.py) and log.jsonl with the running losses and validations. `gifnet.load_model(OUT)` loads it.

CPU speed (benchmarks/train_speed.py, BENCHMARKS.md "Training speed"): channels-last (NHWC) activations are the
default (the depthwise 5x5 convolution's backward is ~8x faster); `precision="bf16"` runs the convolutions and the
attention in bfloat16 (about 1.7x faster than fp32 on CPUs with AVX512-BF16 or AMX); glibc keeps freed memory
(`gifnet.runtime.keep_freed_memory`); the network's training path avoids copies (gifnet.model).

    from gifnet.trainer import TrainConfig, Trainer
    Trainer(TrainConfig(data="../shared/datasets/train/roadscene", out="runs/demo", steps=200, crop=64)).fit()
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import inspect
import json
import logging
import math
import platform
import random
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, card, checkpoint
from .data import DataConfig, FocusConfig, PairedFolder, RestoreConfig, TrainingStream
from .errors import GifnetError, Interrupted
from .files import PathLike, write_text
from .hub import load_model, save_weights
from .losses import (InformationSource, information_weights, intensity_loss, make_information_source,
                     mse_per_sample, reconstruction_loss, ssim_and_contrast)
from .model import GIFNet, GIFNetConfig
from .runtime import autocast, init_distributed, keep_freed_memory, pick_device, pick_precision
from .validation import ValidationSet, ratios, score, summary, table

log = logging.getLogger(__name__)
Callback = Callable[[int, dict], None]


@dataclass
class TrainConfig:
    data: str = ""                      # folder with ir/ and vis/ (pairs matched by name)
    out: str = "runs/gifnet"            # run folder: checkpoints/, log.jsonl, and the final weights
    steps: int = 5000                   # batches; each makes an IVIF and an MFIF optimiser step
    crop: int = 128                     # side of the square training crops
    batch: int = 8                      # crops per batch
    lr: float = 1e-3                    # Adam, as the release
    schedule: str = "constant"          # "constant" (release) or "cosine" (decays to lr_min at the last step)
    warmup: int = 0                     # linear warm-up steps
    lr_min: float = 1e-5                # the cosine schedule's final learning rate
    seed: int = 0                       # initialisation and data stream
    flips: bool = True                  # random horizontal and vertical flips (the release used none)
    weights: str = "gradient"           # information weights: "gradient" (no download) or "densenet" (release)
    per_sample_weights: bool = False    # release: one (w_ir, w_vis) pair per batch
    info_temperature: float | None = None  # the information weights' softmax temperature: higher weighs the two
                                        # sources more evenly (None: the source's own, 2 for "gradient", 1 for
                                        # "densenet", the release's)
    ssim_variant: str = "release"       # MS-SSIM of the reconstruction loss: "release" or "standard"
    multifocus: FocusConfig = field(default_factory=FocusConfig)   # how near/far pairs are synthesised
    dark: float = 0.0                   # share of samples with regions black in both sources (gifnet.data.darken);
                                        # 0: the release's data
    restore: float = 0.0                # share of multi-focus samples whose two inputs are also mildly blurred and
                                        # flattened everywhere (gifnet.data.degrade); 0: the release's data
    degradation: RestoreConfig = field(default_factory=RestoreConfig)  # how `restore` degrades them
    ivif_weight: float = 1.0            # the IVIF step's loss times this: the balance of the two steps (1: release)
    mfif_ssim: float = 0.0              # the MFIF step's fusion loss adds this times 1 - SSIM(out, vis) (11x11
                                        # Gaussian window): a penalty on lost or amplified local contrast; 0: release
    anchor: str | None = None           # weights whose fusion of the IVIF pair the MFIF step also matches, through
                                        # the inference path (see TaskLoss); None: off, the release's objective
    anchor_weight: float = 1.0          # that anchor term's weight in the MFIF step's loss
    init: str | None = None             # start from these weights (fine-tuning)
    gate_init: tuple[float, float] | None = None   # (gate_ivif, gate_mfif) set before the first batch, after `init`:
                                        # the task-interaction gates (model.TwoBranchTransformer). Ours start at 0
                                        # and stay almost shut; the release's start non-zero (BENCHMARKS.md, "Why
                                        # the gate"). None: as initialised or loaded
    freeze: tuple[str, ...] = ()        # parameter-name prefixes to keep fixed, e.g. ("encoder.", "reconstruction.")
    grad_clip: float | None = None      # max gradient norm (None: off, as the release)
    device: str = "auto"                # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"             # "auto" (bf16 autocast on CUDA if supported, else fp16; fp32 on CPU),
                                        # "fp32", "bf16" (also on CPU), "fp16" (CUDA)
    threads: int | None = None          # torch CPU threads (None: torch's default)
    channels_last: bool = True          # NHWC memory layout: ~8x faster depthwise-conv backward on CPU
    workers: int = 0                    # data-loading processes (0: in the training process)
    ckpt_every: int = 500               # batches between checkpoints
    keep_ckpts: int = 2                 # older checkpoints are deleted
    val_data: str | None = None         # held-out pairs: an evaluation root or a folder with ir/ and vis/
                                        # (gifnet.validation); None: no validation
    val_reference: str | None = None    # weights to compare with on the same crops (e.g. "official"): ratio/* logs
    val_every: int = 500                # batches between validations
    val_images: int = 3                 # pairs per validation group
    val_crop: int = 256                 # validation uses centre crops of this size (keeps it cheap on CPU)
    log_every: int = 10                 # batches between log.jsonl entries
    time_limit: float | None = None     # minutes for this session: then checkpoint, write the weights and stop

    # fields that may change when a run is resumed (everything else must stay as it was for exact continuation);
    # bit-identical continuation also needs the same device, thread count and memory layout. `data` may move (a new
    # machine) but must hold the same pairs.
    RUNTIME = ("data", "steps", "device", "threads", "channels_last", "workers", "ckpt_every", "keep_ckpts",
               "val_data", "val_reference", "val_every", "val_images", "val_crop", "log_every", "time_limit", "out")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["multifocus"] = FocusConfig(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in d.get("multifocus", {}).items()})
        d["degradation"] = RestoreConfig(**{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in d.get("degradation", {}).items()})
        d["freeze"] = tuple(d.get("freeze", ()))
        if d.get("gate_init") is not None:
            d["gate_init"] = tuple(d["gate_init"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def check(self) -> None:
        """Raise GifnetError (naming the field) for a setting that cannot work."""
        for name in ("steps", "batch", "ckpt_every", "val_every", "log_every", "keep_ckpts"):
            if getattr(self, name) < 1:
                raise GifnetError(f"{name} must be at least 1, got {getattr(self, name)}", param=name)
        if self.crop < 16:
            raise GifnetError(f"crop must be at least 16 pixels (MS-SSIM uses 5 scales), got {self.crop}", param="crop")
        if self.lr <= 0:
            raise GifnetError(f"lr must be positive, got {self.lr}", param="lr")
        if not 0 <= self.dark <= 1:
            raise GifnetError(f"dark is a probability, between 0 and 1, got {self.dark}", param="dark")
        if not 0 <= self.restore <= 1:
            raise GifnetError(f"restore is a probability, between 0 and 1, got {self.restore}", param="restore")
        ranges = {k: v for k, v in vars(self.degradation).items() if isinstance(v, tuple)}
        for name, (lo, hi) in ranges.items():                      # param: the CLI's --restore-<name>
            top = " <= 1" if name in ("contrast", "mix") else ""
            if not 0 <= lo <= hi or (top and hi > 1):
                raise GifnetError(f"degradation.{name} must be a range 0 <= low <= high{top}, got ({lo}, {hi})",
                                  param=f"restore_{name}")
        if not 0 <= self.degradation.exposed <= 1:
            raise GifnetError(f"degradation.exposed is a share, between 0 and 1, got {self.degradation.exposed}",
                              param="restore_exposed")
        if self.degradation.exposed != 1 and self.degradation.exposure == (0.0, 0.0):
            raise GifnetError("degradation.exposed (--restore-exposure-share) needs an exposure range: give "
                              "--restore-exposure LOW HIGH too", param="restore_exposed")
        if self.info_temperature is not None and not self.info_temperature > 0:
            raise GifnetError(f"info_temperature must be positive (higher: the two sources weighted more evenly), "
                              f"got {self.info_temperature}", param="info_temperature")
        if not self.ivif_weight > 0:                       # "not >" refuses NaN too
            raise GifnetError(f"ivif_weight must be positive (1: the release's balance), got {self.ivif_weight}",
                              param="ivif_weight")
        if not self.mfif_ssim >= 0:
            raise GifnetError(f"mfif_ssim must be 0 (off) or positive, got {self.mfif_ssim}", param="mfif_ssim")
        gates = self.gate_init
        if gates is not None and not (isinstance(gates, (tuple, list)) and len(gates) == 2
                                      and all(isinstance(g, (int, float)) and 0 <= g <= 1 for g in gates)):  # NaN too
            raise GifnetError(f"gate_init must be two gates (ivif, mfif) in [0, 1], got {self.gate_init}",
                              param="gate_init")
        if not self.anchor_weight > 0:
            raise GifnetError(f"anchor_weight must be positive, got {self.anchor_weight}", param="anchor_weight")
        if not self.degradation.contrast_scale >= 0:
            raise GifnetError(f"degradation.contrast_scale must be 0 (the whole image) or a positive sigma in pixels, "
                              f"got {self.degradation.contrast_scale}", param="restore_contrast_scale")
        if not self.degradation.edges >= 0:
            raise GifnetError(f"degradation.edges must be 0 (off) or a positive gradient, got "
                              f"{self.degradation.edges}", param="restore_edges")
        if self.degradation.grain != (0.0, 0.0) and self.degradation.noise[1] == 0:
            raise GifnetError("degradation.grain (--restore-grain) blurs the restore noise, which is off: give "
                              "--restore-noise LOW HIGH too", param="restore_grain")
        if self.degradation.blur[0] <= 0:
            raise GifnetError(f"degradation.blur must be above 0 pixels, got {self.degradation.blur}",
                              param="restore_blur")
        if self.degradation.gamma[0] <= 0:
            raise GifnetError(f"degradation.gamma must be above 0 (1: unchanged, above 1: darker), got "
                              f"{self.degradation.gamma}", param="restore_gamma")
        knee = self.degradation.knee
        if not 0 < knee[0] <= knee[1] <= 1:                                 # NaN too
            raise GifnetError(f"degradation.knee must be slopes in (0, 1], low <= high (1 1: off), got {knee}",
                              param="restore_knee")
        if not 0 < self.degradation.knee_level < 1:
            raise GifnetError(f"degradation.knee_level must be a grey level in (0, 1), got "
                              f"{self.degradation.knee_level}", param="restore_knee_level")
        if self.degradation.gain[0] <= 0:
            raise GifnetError(f"degradation.gain must be above 0 (1: unchanged, below 1: darker), got "
                              f"{self.degradation.gain}", param="restore_gain")
        focus = self.multifocus                     # each range (low, high) with its bound; param: --focus-<flag>
        for name, flag, bound, ok in (("grid", "grid", "1 <= low <= high", lambda lo, hi: 1 <= lo <= hi),
                                      ("coverage", "coverage", "0 < low <= high < 1", lambda lo, hi: 0 < lo <= hi < 1),
                                      ("disk_radius", "disk", "0 < low <= high", lambda lo, hi: 0 < lo <= hi),
                                      ("gaussian_sigma", "sigma", "0 < low <= high", lambda lo, hi: 0 < lo <= hi)):
            if not ok(*getattr(focus, name)):                                # NaN fails every comparison
                raise GifnetError(f"multifocus.{name} must be a range {bound}, got {getattr(focus, name)}",
                                  param=f"focus_{flag}")
        if not 0 <= focus.p_disk <= 1:
            raise GifnetError(f"multifocus.p_disk is a share, between 0 and 1, got {focus.p_disk}",
                              param="focus_disk_share")
        if self.schedule not in ("constant", "cosine"):
            raise GifnetError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}", param="schedule")
        if not self.data:
            raise GifnetError("no training data: give a folder with ir/ and vis/ sub-folders", param="data")


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for (0-based) step `step`: linear warm-up, then constant or cosine to lr_min."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(1.0, t)))


def pairs_fingerprint(folder: PairedFolder) -> str:
    """A short hash of the training pairs' names: a resumed run must see the same pairs (the data stream indexes them)."""
    return hashlib.sha256("\n".join(folder.name(i) for i in range(len(folder))).encode()).hexdigest()[:16]


class _Samples(torch.utils.data.Dataset):
    """`per_batch` consecutive samples of a TrainingStream every `stride`, from `first`, `batches` times (one
    process's part of each global batch). Each sample is a pure function of its index, so workers are safe."""

    def __init__(self, stream: TrainingStream, first: int, per_batch: int, stride: int, batches: int):
        self.stream, self.first, self.per_batch, self.stride, self.batches = stream, first, per_batch, stride, batches

    def __len__(self) -> int:
        return self.per_batch * self.batches

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k = self.first + (i // self.per_batch) * self.stride + i % self.per_batch
        return {key: torch.from_numpy(v)[None] for key, v in self.stream.sample(k).items()}


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class _DeferredSignals:
    """While active, SIGINT, SIGTERM and SIGHUP only record the signal (`signum`); the training loop ends the batch it
    is in, writes a checkpoint and raises. Outside the main thread (a notebook's worker) nothing is changed."""

    SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)

    def __init__(self):
        self.signum: int | None = None
        self.previous: dict = {}

    def __enter__(self):
        try:
            for s in self.SIGNALS:
                self.previous[s] = signal.signal(s, self._record)
        except ValueError:          # not the main thread
            self.previous = {}
        return self

    def _record(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt          # a second Ctrl-C: stop now (the last checkpoint stays)
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class TaskLoss(nn.Module):
    """The loss of one optimiser step of `task` (see `Trainer.task_step`) as a module, so that one process or
    DistributedDataParallel (several) can run it. forward(task, batch, weights) -> (loss, fusion loss, rec. loss,
    anchor loss).

    With an "anchor" image in the batch (`TrainConfig.anchor`: another network's fusion of (ir, vis)), the MFIF step
    also fuses the IVIF pair as inference does, F = E(ir, vis), out = D(F, T(F, F, mode="mfif")), and adds
    `anchor_weight` * MSE(out, anchor): the inference path learns to leave infrared-visible pairs as the anchor
    network renders them while the multi-focus samples teach it to restore. Gradients again reach the encoder and the
    MFIF branch only (the IVIF branch runs without them); E(ir, vis) is computed once, with gradients when anchoring,
    and enters the MFIF path detached as without the anchor."""

    def __init__(self, model: GIFNet, ssim_variant: str, precision: Callable[[], object], anchor_weight: float = 1.0,
                 mfif_ssim: float = 0.0):
        super().__init__()
        self.model, self.ssim_variant, self.precision = model, ssim_variant, precision
        self.anchor_weight, self.mfif_ssim = anchor_weight, mfif_ssim

    def forward(self, task: str, batch: dict[str, torch.Tensor],
                weights: tuple[torch.Tensor, torch.Tensor] | None = None):
        m, vis = self.model, batch["vis"]
        pairs = {"ivif": (batch["ir"], vis), "mfif": (batch["near"], batch["far"])}
        other = "mfif" if task == "ivif" else "ivif"
        anchoring = task == "mfif" and "anchor" in batch
        with self.precision():
            feats = {task: m.encoder(*pairs[task])}
            with torch.set_grad_enabled(torch.is_grad_enabled() and anchoring):
                f_other = m.encoder(*pairs[other])          # E(ir, vis): with gradients only for the anchor term
            feats[other] = f_other.detach()
            out = m.decoder(feats[task], m.transformer(feats["ivif"], feats["mfif"], mode=task, detach_other=True))
            rec = m.reconstruction(feats[task])
            if anchoring:                                   # the inference path on the IVIF pair
                out_iv = m.decoder(f_other, m.transformer(f_other, f_other, mode="mfif", detach_other=True))
        if task == "ivif":
            fusion = intensity_loss(out.float(), batch["ir"], vis, *weights)
        else:
            fusion = mse_per_sample(out.float(), vis).mean()
            if self.mfif_ssim:
                fusion = fusion + self.mfif_ssim * (1 - ssim_and_contrast(out.float(), vis)[0]).mean()
        rec_loss = reconstruction_loss(rec, vis, variant=self.ssim_variant)
        anchor = (mse_per_sample(out_iv.float(), batch["anchor"]).mean() if anchoring
                  else torch.zeros((), device=vis.device))
        return fusion + rec_loss + self.anchor_weight * anchor, fusion, rec_loss, anchor


class Trainer:
    """Holds the model, optimiser, data stream and information-weight source of one run. `fit()` trains to
    `config.steps`; `Trainer.resume(out)` continues a run from its latest checkpoint (`state`: a checkpoint's
    contents, `gifnet.checkpoint.read`, to continue from instead of `config.init`)."""

    def __init__(self, config: TrainConfig, callbacks: Sequence[Callback] = (), *, state: dict | None = None):
        config.check()
        self.cfg = cfg = config
        self.callbacks = list(callbacks)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist, device = init_distributed(cfg.device)       # rank 0 of 1 unless started by torchrun
        try:
            self._build(device, state)
        except BaseException:     # a failed start leaves no process group behind (its threads would abort the exit);
            self.__dict__.pop("step_loss", None)      # DistributedDataParallel goes first, it holds the group
            self.dist.close()
            raise

    def _build(self, device: str, state: dict | None) -> None:
        cfg = self.cfg
        if cfg.batch % self.dist.world:
            raise GifnetError(f"batch {cfg.batch} cannot be split evenly over {self.dist.world} processes; use a "
                              f"multiple of {self.dist.world} (the batch is global: each process takes an equal part)",
                              param="batch")
        self.local_batch = cfg.batch // self.dist.world
        self.device = pick_device(device)
        step = state["step"] if state is not None else 0          # before DistributedDataParallel exists
        self.dist.same_everywhere(json.dumps({**cfg.to_dict(), "out": None, "step": step}, sort_keys=True),
                                  self.device, "training settings (or checkpoints)")
        if self.device.type == "cpu":
            keep_freed_memory()
        self.amp_dtype, self.scaler = pick_precision(cfg.precision, self.device)
        self.out = Path(cfg.out)

        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.model = GIFNet(GIFNetConfig())
        if cfg.init and state is None:
            self.model.load_state_dict(load_model(cfg.init).state_dict(), strict=True)
            log.info("initialised from %s", cfg.init)
        if cfg.gate_init is not None and state is None:
            with torch.no_grad():
                self.model.transformer.gate_ivif.fill_(cfg.gate_init[0])
                self.model.transformer.gate_mfif.fill_(cfg.gate_init[1])
            log.info("task-interaction gates set to ivif %g, mfif %g", *cfg.gate_init)
        self.model.to(self.device).train()
        self.layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
            for p in self.model.parameters():    # 1x1 kernels: the same bytes in either layout; contiguous strides
                if p.dim() == 4 and p.shape[-2:] == (1, 1):    # match their gradients' (DistributedDataParallel
                    p.data = p.data.clone(memory_format=torch.contiguous_format)   # warns about mismatches)
        self.trainable = self._freeze(cfg.freeze)
        self.opt = torch.optim.Adam(self.trainable, lr=cfg.lr)
        self.step_loss: nn.Module = TaskLoss(self.model, cfg.ssim_variant, self.autocast, cfg.anchor_weight,
                                             cfg.mfif_ssim)
        self.anchor: GIFNet | None = None          # TrainConfig.anchor's network, fixed
        if cfg.anchor:
            self.anchor = load_model(cfg.anchor).to(self.device).eval().requires_grad_(False)
            if cfg.channels_last:
                self.anchor.to(memory_format=torch.channels_last)
            log.info("anchoring the inference path on IVIF pairs to %s (weight %g)", cfg.anchor, cfg.anchor_weight)
        if self.dist.world > 1:       # gradients averaged over the processes; each step leaves the other branch unused
            ddp = nn.parallel.DistributedDataParallel     # no buffer syncing per step (newer torch: a new name)
            no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters
                       else "broadcast_buffers")
            self.step_loss = ddp(self.step_loss, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                 find_unused_parameters=True, **{no_sync: False})
        self.info: InformationSource = make_information_source(
            cfg.weights, **({} if cfg.info_temperature is None else {"temperature": cfg.info_temperature}))
        if isinstance(self.info, nn.Module):
            self.info.to(self.device)

        self.train_set = PairedFolder(cfg.data, min_size=cfg.crop)
        self.stream = TrainingStream(self.train_set, DataConfig(cfg.crop, cfg.flips, cfg.multifocus, cfg.dark, cfg.restore,
                                                             cfg.degradation), cfg.seed)
        self.val_set = (ValidationSet.from_folder(cfg.val_data, pairs=cfg.val_images, crop=cfg.val_crop)
                        if cfg.val_data and self.dist.main else None)
        self.reference_scores: dict[str, float] | None = None     # val_reference's scores, computed once
        self.step = 0
        self.elapsed = 0.0              # training seconds over all sessions of this run
        self.running: dict[str, float] = {}
        self.last_val: dict[str, float] = {}
        if state is not None:
            self._restore(state)

    def _freeze(self, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
        names = [n for n, _ in self.model.named_parameters()]
        for p in prefixes:
            if not any(n.startswith(p) for n in names):
                tops = sorted({n.split(".")[0] + "." for n in names})
                raise GifnetError(f"freeze prefix {p!r} matches no parameter; prefixes start with one of {tops} "
                                  "(e.g. 'transformer.blocks.0.')", param="freeze")
        trainable = []
        for n, prm in self.model.named_parameters():
            frozen = any(n.startswith(p) for p in prefixes)
            prm.requires_grad_(not frozen)
            if not frozen:
                trainable.append(prm)
        if not trainable:
            raise GifnetError("every parameter is frozen; nothing to train", param="freeze")
        if prefixes:
            log.info("frozen: %d of %d parameter tensors", len(names) - len(trainable), len(names))
        return trainable

    def autocast(self):
        return autocast(self.device, self.amp_dtype)

    def lr_at(self, step: int) -> float:
        return lr_at(self.cfg, step)

    # ----------------------------------------------------------------------------------------------- steps
    def task_step(self, task: str, batch: dict[str, torch.Tensor],
                  weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
        """One optimiser step of `task`: "ivif" (fusion loss w_ir MSE(out, ir) + w_vis MSE(out, vis), with `weights`
        = (w_ir, w_vis)) or "mfif" (MSE(out, vis), plus the `mfif_ssim` and `anchor` terms when set), each plus the
        reconstruction loss of R(F_task) (`TaskLoss`).
        Gradients flow through E(the task's pair) and the task's transformer branch only. Returns the losses (means
        over the global batch)."""
        loss, fusion, rec, anchor = self.step_loss(task, batch, weights)
        self._optimise(loss * self.cfg.ivif_weight if task == "ivif" else loss, task)
        fusion, rec, anchor = (self.dist.sum_(torch.stack([fusion.detach(), rec.detach(), anchor.detach()]).float())
                               / self.dist.world).tolist()
        logs = {task: fusion + rec, f"{task}_fusion": fusion, f"{task}_rec": rec}
        return {**logs, "mfif_anchor": anchor} if self.anchor is not None and task == "mfif" else logs

    def _optimise(self, loss: torch.Tensor, task: str) -> None:
        if not torch.isfinite(loss):
            raise GifnetError(f"{task} loss became {loss.item()} at step {self.step}; lower the learning rate or "
                              "resume from the last checkpoint", param="lr")
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip:
                self.scaler.unscale_(self.opt)
                nn.utils.clip_grad_norm_(self.trainable, self.cfg.grad_clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if self.cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.trainable, self.cfg.grad_clip)
            self.opt.step()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One batch: the IVIF optimiser step, then the MFIF step. Returns the losses and weights as floats."""
        batch = {k: batch[k].to(self.device, non_blocking=True).contiguous(memory_format=self.layout)
                 for k in ("ir", "vis", "near", "far")}
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        w_ir, w_vis = information_weights(batch["ir"], batch["vis"], self.info, per_sample=self.cfg.per_sample_weights,
                                          total=self.dist.sum_)
        logs = self.task_step("ivif", batch, (w_ir, w_vis))
        if self.anchor is not None:
            with torch.no_grad(), self.autocast():
                batch["anchor"] = self.anchor(batch["ir"], batch["vis"]).float()
        logs.update(self.task_step("mfif", batch))
        return {**logs, "w_ir": w_ir.mean().item(), "lr": self.opt.param_groups[0]["lr"]}

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """This process's part of each global batch: samples k + rank * local .. of batch k of the stream."""
        cfg, n = self.cfg, self.local_batch
        first = self.step * cfg.batch + self.dist.rank * n
        if cfg.workers <= 0:
            k = first
            while True:
                yield self.stream.batch(k, n)
                k += cfg.batch
        samples = _Samples(self.stream, first, n, cfg.batch, cfg.steps - self.step)
        yield from torch.utils.data.DataLoader(samples, batch_size=n, shuffle=False, num_workers=cfg.workers,
                                               worker_init_fn=_worker_init, persistent_workers=False,
                                               pin_memory=self.device.type == "cuda")

    # ----------------------------------------------------------------------------------------------- loop
    def fit(self) -> Path:
        """Train from the current step to `config.steps` (or until `time_limit` minutes have passed in this session),
        then write the save_pretrained folder to `config.out`.

        Ctrl-C, SIGTERM and SIGHUP end the current batch, write a checkpoint and raise KeyboardInterrupt
        (`gifnet.errors.Interrupted`), so `resume` loses nothing and a checkpoint never holds half a batch. With
        several processes, rank 0 writes the checkpoints, logs, validations and weights, and decides for all when
        the time is up."""
        cfg, main = self.cfg, self.dist.main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.step == 0 and ((self.out / "model.safetensors").exists()
                                   or any(checkpoint.folder(self.out).glob("*.pt"))):
                raise GifnetError(f"{self.out}: already holds a training run; choose another output folder or resume "
                                  "it", param="out")
            log.info("training %s: %d pairs, steps %d..%d, crop %d, batch %d (%d processes), device %s, precision %s",
                     cfg.data, len(self.train_set), self.step, cfg.steps, cfg.crop, cfg.batch, self.dist.world,
                     self.device, self.amp_dtype or "fp32")
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True, smoothing=0.1,
                   disable=not main or None)
        batches = self._batches()
        t0 = start = time.perf_counter()
        stop = _DeferredSignals()
        try:
            with stop:
                while self.step < cfg.steps:
                    logs = self.train_step(next(batches))
                    self.step += 1
                    out_of_time = self.dist.agree(cfg.time_limit is not None
                                                  and time.perf_counter() - start >= 60 * cfg.time_limit, self.device)
                    last = self.step == cfg.steps or out_of_time
                    for k, v in logs.items():   # running means shown in the progress bar
                        self.running[k] = v if k not in self.running else 0.9 * self.running[k] + 0.1 * v
                    if main:
                        self._report(logs, last, bar)
                    if self.step % cfg.ckpt_every == 0 or last:
                        self.elapsed += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        self.save_checkpoint()
                    if self.dist.agree(stop.signum is not None, self.device):
                        raise Interrupted(stop.signum or signal.SIGTERM)
                    if out_of_time and self.step < cfg.steps:
                        log.warning("time limit of %g min reached at step %d of %d; weights written, continue with "
                                    "--resume", cfg.time_limit, self.step, cfg.steps)
                        break
        except Interrupted:                   # raised at a batch boundary: the state is a whole number of batches
            self.elapsed += time.perf_counter() - t0
            path = self.save_checkpoint()
            log.warning("interrupted at step %d; checkpoint %s; continue with --resume", self.step, path)
            raise
        finally:
            bar.close()
        if main:
            self.save_pretrained(self.out)
        self.dist.barrier()
        return self.out

    def _report(self, logs: dict[str, float], last: bool, bar) -> None:
        """Rank 0's bookkeeping after a batch: validation, the log file, the progress bar, the callbacks."""
        cfg = self.cfg
        validated = self.val_set is not None and (self.step % cfg.val_every == 0 or last)
        if validated:
            self.last_val = self.validate()
            logs.update(self.last_val)
            log.info("step %d validation: %s", self.step, summary(self.last_val))
        if self.step % cfg.log_every == 0 or last or validated:
            bar.set_postfix(ivif=f"{self.running['ivif']:.4f}", mfif=f"{self.running['mfif']:.4f}",
                            w_ir=f"{self.running['w_ir']:.2f}")
            self._append_log({"step": self.step, **logs})
        bar.update(1)
        for cb in self.callbacks:
            cb(self.step, dict(logs))

    def _append_log(self, entry: dict) -> None:
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    # ----------------------------------------------------------------------------------------------- validation
    def validate(self) -> dict[str, float]:
        """Score the validation crops (`gifnet.validation.score`, fp32): `val/<group>/<metric>`; with `val_reference`
        also their ratios to that model's scores on the same crops: `ratio/<group>/<metric>`, `ratio/min`,
        `ratio/mean`, `ratio/below`, `ratio/gap`, `ratio/worst/<metric>` (`gifnet.validation.ratios`)."""
        ours = score(self.model, self.val_set, device=self.device)
        out = {f"val/{k}": v for k, v in ours.items()}
        if self.cfg.val_reference:
            if self.reference_scores is None:
                reference = load_model(self.cfg.val_reference).to(self.device)
                self.reference_scores = score(reference, self.val_set, device=self.device)
            out.update({f"ratio/{k}": v for k, v in ratios(ours, self.reference_scores).items()})
        return out

    # ----------------------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> Path:
        """Write this step's checkpoint (rank 0; the other processes return its path without writing)."""
        if not self.dist.main:
            return checkpoint.folder(self.out) / f"step_{self.step:07d}.pt"
        state = {"data_position": self.step * self.cfg.batch, "config": self.cfg.to_dict(),
                 "pairs": pairs_fingerprint(self.train_set), "model": self.model.state_dict(),
                 "optimizer": self.opt.state_dict(),
                 "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                 "elapsed": self.elapsed, "running": self.running, "last_val": self.last_val}
        path = checkpoint.save(self.out, self.step, state, keep=self.cfg.keep_ckpts)
        log.info("checkpoint %s", path)
        return path

    def _restore(self, state: dict) -> None:
        if state.get("pairs", pairs_fingerprint(self.train_set)) != pairs_fingerprint(self.train_set):
            raise GifnetError(f"{self.cfg.data}: holds other pairs than the run was trained on; give the run's own "
                              "training folder", param="data")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        checkpoint.set_rng_state(state["rng"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.running, self.last_val = dict(state["running"]), dict(state["last_val"])
        if state["data_position"] != self.step * self.cfg.batch:
            raise GifnetError(f"checkpoint of step {self.step}: data position {state['data_position']} does not match")
        log_file = self.out / "log.jsonl"   # drop entries written after this checkpoint by an interrupted session
        if log_file.exists() and self.dist.main:
            keep = [ln for ln in log_file.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step]
            write_text(log_file, "".join(ln + "\n" for ln in keep))
        log.info("resumed at step %d", self.step)

    @classmethod
    def resume(cls, out: PathLike, callbacks: Sequence[Callback] = (), **overrides) -> Trainer:
        """Continue the run in `out` from its latest checkpoint, with its own settings. Only the runtime fields
        (`TrainConfig.RUNTIME`: steps, device, threads, the data folder's location, checkpoint/validation/log
        cadence) may be overridden; others are ignored with a warning that names those that differ from the run's.
        `degradation` and `multifocus` may also be given as dicts of some of their fields (what `gifnet train
        --resume --restore-noise ...` passes): only those fields are compared."""
        state = checkpoint.read(checkpoint.latest(out))
        saved = TrainConfig.from_dict(state["config"])
        changed = {}
        for k, v in overrides.items():
            if k in TrainConfig.RUNTIME:
                continue
            have = getattr(saved, k, None)
            if isinstance(v, dict) and dataclasses.is_dataclass(have):     # some fields of a nested config
                differ = {f: x for f, x in v.items() if getattr(have, f, None) != x}
                if differ:
                    changed[k] = differ
            elif have != v:
                changed[k] = v
        if changed:
            log.warning("resuming keeps the run's settings; ignoring %s", changed)
        cfg = dataclasses.replace(saved, out=str(out),
                                  **{k: v for k, v in overrides.items() if k in TrainConfig.RUNTIME})
        if state["step"] > cfg.steps:
            raise GifnetError(f"{out}: the checkpoint is at step {state['step']}, beyond steps={cfg.steps}",
                              param="steps")
        return cls(cfg, callbacks, state=state)

    # ----------------------------------------------------------------------------------------------- output
    def save_pretrained(self, folder: PathLike) -> Path:
        """config.json + model.safetensors + README.md (the model card, `gifnet.card.training_sections`)."""
        folder = Path(folder)
        cfg = self.cfg
        hw = (torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
              else f"CPU ({_cpu_name()}, {torch.get_num_threads()} threads)")
        sections = card.training_sections(
            data=cfg.data, pairs=len(self.train_set), crop=cfg.crop, flips=cfg.flips, multifocus=str(cfg.multifocus),
            recipe={k: v for k, v in cfg.to_dict().items() if k not in ("out", "data", "val_data", "multifocus")},
            init=cfg.init, info_weights=cfg.weights, per_sample=cfg.per_sample_weights, ssim_variant=cfg.ssim_variant,
            steps=self.step, planned=cfg.steps, batch=cfg.batch,
            hardware=f"{hw}, torch {torch.__version__}, gifnet {__version__}", precision=str(self.amp_dtype or "fp32"),
            minutes=self.elapsed / 60, finished=datetime.datetime.now().isoformat(timespec="seconds"),
            losses=self.running, validation=table(self.last_val) if self.last_val else None, val_source=cfg.val_data)
        save_weights(self.model, folder, metadata={"gifnet_version": __version__, "steps": self.step,
                                                   "data": Path(cfg.data).name}, replace_card=True, **sections)
        log.info("weights written to %s", folder)
        return folder


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
