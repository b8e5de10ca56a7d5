"""Train GIFNet: the release's two-step schedule, exact checkpoints, validation, fine-tuning, a save_pretrained folder.

Each batch of aligned crops (ir, vis, near, far; see `gifnet.data`) makes two Adam steps, as in the authors' release:

    1. IVIF step   F_i = E(ir, vis);  F_m = E(near, far) without gradient
                   out = D(F_i, T(F_i, F_m, mode="ivif", detach_other=True));  rec = R(F_i)
                   loss = w_ir*MSE(out, ir) + w_vis*MSE(out, vis) + 1 - MS-SSIM(rec, vis) + MSE(rec, vis)
    2. MFIF step   F_m = E(near, far);  F_i = E(ir, vis) without gradient
                   out = D(F_m, T(F_i, F_m, mode="mfif", detach_other=True));  rec = R(F_m)
                   loss = MSE(out, vis) + 1 - MS-SSIM(rec, vis) + MSE(rec, vis)

Gradient isolation: in each step only the main task's encoder pass and transformer branch receive gradients; the
other pair's features and the other branch are computed under no_grad (`detach_other`). `w_ir, w_vis` are the
information weights of `gifnet.losses` (weight-free gradient energy by default; `weights="densenet"` for the release's).

Checkpoints (`OUT/checkpoints/step_XXXXXXX.pt`, every `ckpt_every` steps and on Ctrl-C / SIGTERM) hold the model,
optimiser, grad scaler, every RNG state and the data position, so `resume` continues bit-identically (on the same
device, thread count and memory layout; floating-point reductions depend on them). They are read back with
`torch.load(weights_only=True)` (no arbitrary unpickling). `time_limit` ends a session cleanly for background runs.
At the end OUT holds a `save_pretrained`-style folder: config.json, model.safetensors (`gifnet.hub.save_weights`),
README.md (model card), plus log.jsonl with the running losses. `gifnet.hub.load_model(OUT)` loads it.

CPU speed (benchmarks/train_speed.py, BENCHMARKS.md "Training speed"): channels-last (NHWC) activations are the
default (the depthwise 5x5 convolution's backward is ~8x faster); `precision="bf16"` runs the convolutions and the
attention in bfloat16 (about 1.7x faster than fp32 on CPUs with AVX512-BF16 or AMX); glibc is told to keep freed
memory (`keep_freed_memory`). The network's own training path avoids copies (see gifnet.model: reflection padding,
window attention).

    from gifnet.trainer import TrainConfig, Trainer
    Trainer(TrainConfig(data="../shared/datasets/train/roadscene", out="runs/demo", steps=200, crop=64)).fit()
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import datetime
import json
import logging
import math
import os
import platform
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__
from .data import DataConfig, FocusConfig, PairedFolder, TrainingStream
from .errors import GifnetError, Interrupted
from .hub import load_model, save_weights
from .losses import (InformationSource, information_weights, intensity_loss, make_information_source,
                     mse_per_sample, reconstruction_loss)
from .model import GIFNet, GIFNetConfig
from .validation import BAR_METRICS, ValidationSet, ratios, score

log = logging.getLogger(__name__)
Callback = Callable[[int, dict], None]


@dataclass
class TrainConfig:
    data: str = ""                      # folder with ir/ and vis/ (pairs matched by name)
    out: str = "runs/gifnet"            # run folder: checkpoints/, log.jsonl, and the final weights
    steps: int = 5000                   # batches; each makes an IVIF and an MFIF optimiser step
    crop: int = 128
    batch: int = 8
    lr: float = 1e-3                    # Adam, as the release
    schedule: str = "constant"          # "constant" (release) or "cosine" (decays to lr_min at the last step)
    warmup: int = 0                     # linear warm-up steps
    lr_min: float = 1e-5
    seed: int = 0
    flips: bool = True
    weights: str = "gradient"           # information weights: "gradient" (no download) or "densenet" (release)
    per_sample_weights: bool = False    # release: one (w_ir, w_vis) pair per batch
    ssim_variant: str = "release"       # MS-SSIM of the reconstruction loss: "release" or "standard"
    multifocus: FocusConfig = field(default_factory=FocusConfig)
    init: str | None = None             # start from these weights (fine-tuning)
    freeze: tuple[str, ...] = ()        # parameter-name prefixes to keep fixed, e.g. ("encoder.", "reconstruction.")
    grad_clip: float | None = None      # max gradient norm (None: off, as the release)
    device: str = "auto"                # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"             # "auto" (bf16 autocast on CUDA if supported, else fp16; fp32 on CPU),
                                        # "fp32", "bf16" (also on CPU), "fp16" (CUDA)
    threads: int | None = None          # torch CPU threads (None: torch's default)
    channels_last: bool = True          # NHWC memory layout: ~8x faster depthwise-conv backward on CPU
    workers: int = 0                    # data-loading processes (0: in the training process)
    ckpt_every: int = 500
    keep_ckpts: int = 2                 # older checkpoints are deleted
    val_data: str | None = None         # held-out pairs: an evaluation root or a folder with ir/ and vis/
                                        # (gifnet.validation); None: no validation
    val_reference: str | None = None    # weights to compare with on the same crops (e.g. "official"): ratio/* logs
    val_every: int = 500
    val_images: int = 3                 # pairs per validation group
    val_crop: int = 256                 # validation uses centre crops of this size (keeps it cheap on CPU)
    log_every: int = 10
    time_limit: float | None = None     # minutes for this session: then checkpoint, write the weights and stop

    # fields that may change when a run is resumed (everything else must stay as it was for exact continuation)
    # (bit-identical continuation also needs the same device, thread count and memory layout)
    RUNTIME = ("steps", "device", "threads", "channels_last", "workers", "ckpt_every", "keep_ckpts", "val_data",
               "val_reference", "val_every", "val_images", "val_crop", "log_every", "time_limit", "out")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["multifocus"] = FocusConfig(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in d.get("multifocus", {}).items()})
        d["freeze"] = tuple(d.get("freeze", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ------------------------------------------------------------------------------------------- weights in and out
def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write to a temporary name, then rename: an interrupted write never leaves a truncated file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ------------------------------------------------------------------------------------------------ CPU allocator
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve large blocks from the heap and keep freed memory for reuse (mallopt M_MMAP_MAX=0,
    M_TRIM_THRESHOLD=1 GiB). By default every tensor over 32 MB is mapped fresh from the OS and its pages are zeroed
    on first touch; a 128x128 training batch makes hundreds of them per step, which made it about 1.6x slower on
    the 2-core development CPU. The process keeps its peak memory until it exits. Returns False where the C library
    is not glibc (nothing changed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-4, 0)) and bool(libc.mallopt(-1, 1 << 30))   # M_MMAP_MAX, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


# ------------------------------------------------------------------------------------------- validation output
def validation_summary(val: dict[str, float]) -> str:
    """One log line: the ratio summary when there is a reference, else the mean of each metric over the groups."""
    if "ratio/min" in val:
        worst = ", ".join(f"{m} {val[f'ratio/worst/{m}']:.2f}" for m in BAR_METRICS if f"ratio/worst/{m}" in val)
        return f"ratio to the reference: min {val['ratio/min']:.3f}, mean {val['ratio/mean']:.3f} (worst group: {worst})"
    return ", ".join(f"{m} {np.mean([v for k, v in val.items() if k.endswith('/' + m)]):.4g}" for m in BAR_METRICS)


def validation_table(val: dict[str, float]) -> str:
    """A Markdown table, one row per group: each metric's value, and `(ratio)` to the reference when known."""
    groups = sorted({k.split("/")[1] for k in val if k.startswith("val/")})
    rows = ["| group | " + " | ".join(m.upper() for m in BAR_METRICS) + " |", "|---|" + "---|" * len(BAR_METRICS)]
    for g in groups:
        cells = [f"{val[f'val/{g}/{m}']:.3g}" + (f" ({val[f'ratio/{g}/{m}']:.2f})" if f"ratio/{g}/{m}" in val else "")
                 for m in BAR_METRICS]
        rows.append(f"| {g} | " + " | ".join(cells) + " |")
    if "ratio/min" in val:
        rows.append(f"\nIn brackets: ratio to the reference model on the same crops (min {val['ratio/min']:.3f}, "
                    f"mean {val['ratio/mean']:.3f}).")
    return "\n".join(rows)


# -------------------------------------------------------------------------------------------------- the trainer
def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"key": np_state[0], "state": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    n = state["numpy"]
    np.random.set_state((n["key"], n["state"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Samples(torch.utils.data.Dataset):
    """Samples start, start+1, ... of a TrainingStream (each a pure function of its index, so workers are safe)."""

    def __init__(self, stream: TrainingStream, start: int, stop: int):
        self.stream, self.start, self.stop = stream, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v)[None] for k, v in self.stream.sample(self.start + i).items()}


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class Trainer:
    """Holds the model, optimiser, data stream and information-weight source of one run. `fit()` trains to
    `config.steps`; `Trainer.resume(out)` continues a run from its latest checkpoint."""

    def __init__(self, config: TrainConfig, callbacks: tuple[Callback, ...] | list[Callback] = (),
                 _load_init: bool = True):
        self.cfg = cfg = config
        self.callbacks = list(callbacks)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = self._pick_device(cfg.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.amp_dtype, self.scaler = self._pick_precision(cfg.precision)
        self.out = Path(cfg.out)
        self._check_config()

        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.model = GIFNet(GIFNetConfig())
        if cfg.init and _load_init:
            self.model.load_state_dict(load_model(cfg.init).state_dict(), strict=True)
            log.info("initialised from %s", cfg.init)
        self.model.to(self.device).train()
        self.layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.trainable = self._freeze(cfg.freeze)
        self.opt = torch.optim.Adam(self.trainable, lr=cfg.lr)
        self.info: InformationSource = make_information_source(cfg.weights)
        if isinstance(self.info, nn.Module):
            self.info.to(self.device)

        self.train_set = PairedFolder(cfg.data, min_size=cfg.crop)
        self.stream = TrainingStream(self.train_set, DataConfig(cfg.crop, cfg.flips, cfg.multifocus), cfg.seed)
        self.val_set = (ValidationSet.from_folder(cfg.val_data, pairs=cfg.val_images, crop=cfg.val_crop)
                        if cfg.val_data else None)
        self.reference_scores: dict[str, float] | None = None     # val_reference's scores, computed once
        self.step = 0
        self.elapsed = 0.0              # training seconds over all sessions of this run
        self.running: dict[str, float] = {}
        self.last_val: dict[str, float] = {}

    # ---------------------------------------------------------------------------------------------- set-up
    def _check_config(self) -> None:
        cfg = self.cfg
        for name in ("steps", "batch", "ckpt_every", "val_every", "log_every", "keep_ckpts"):
            if getattr(cfg, name) < 1:
                raise GifnetError(f"{name} must be at least 1, got {getattr(cfg, name)}")
        if cfg.crop < 16:
            raise GifnetError(f"crop must be at least 16 pixels (MS-SSIM uses 5 scales), got {cfg.crop}")
        if cfg.lr <= 0:
            raise GifnetError(f"lr must be positive, got {cfg.lr}")
        if cfg.schedule not in ("constant", "cosine"):
            raise GifnetError(f"schedule must be 'constant' or 'cosine', got {cfg.schedule!r}")
        if not cfg.data:
            raise GifnetError("no training data: pass --data DIR (a folder with ir/ and vis/ sub-folders)")

    @staticmethod
    def _pick_device(name: str) -> torch.device:
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise GifnetError(f"unknown device {name!r}; use auto, cpu or cuda") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise GifnetError(f"device {name!r} requested but this torch has no CUDA GPU; use --device cpu")
        return dev

    def _pick_precision(self, name: str):
        cuda = self.device.type == "cuda"
        if name == "auto":
            name = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
        if name not in ("fp32", "bf16", "fp16"):
            raise GifnetError(f"precision must be auto, fp32, bf16 or fp16, got {name!r}")
        if name == "fp16" and not cuda:
            raise GifnetError("fp16 mixed precision needs a CUDA GPU; use --precision bf16 or fp32 on CPU")
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
        scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None
        return dtype, scaler

    def _freeze(self, prefixes: tuple[str, ...]) -> list[nn.Parameter]:
        names = [n for n, _ in self.model.named_parameters()]
        for p in prefixes:
            if not any(n.startswith(p) for n in names):
                tops = sorted({n.split(".")[0] + "." for n in names})
                raise GifnetError(f"--freeze {p!r} matches no parameter; prefixes start with one of {tops} "
                                  "(e.g. 'transformer.blocks.0.')")
        trainable = []
        for n, prm in self.model.named_parameters():
            frozen = any(n.startswith(p) for p in prefixes)
            prm.requires_grad_(not frozen)
            if not frozen:
                trainable.append(prm)
        if not trainable:
            raise GifnetError("every parameter is frozen; nothing to train")
        if prefixes:
            log.info("frozen: %d of %d parameter tensors", len(names) - len(trainable), len(names))
        return trainable

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def lr_at(self, step: int) -> float:
        """Learning rate for (0-based) step `step`: linear warm-up, then constant or cosine to lr_min."""
        cfg = self.cfg
        if cfg.warmup and step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        if cfg.schedule == "constant":
            return cfg.lr
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(1.0, t)))

    # ----------------------------------------------------------------------------------------------- steps
    def _optimise(self, loss: torch.Tensor, task: str) -> None:
        if not torch.isfinite(loss):
            raise GifnetError(f"{task} loss became {loss.item()} at step {self.step}; lower --lr or resume from the "
                              "last checkpoint")
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
        m, cfg = self.model, self.cfg
        ir, vis, near, far = (batch[k].to(self.device, non_blocking=True).contiguous(memory_format=self.layout)
                              for k in ("ir", "vis", "near", "far"))
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)

        # 1. IVIF: gradients through E(ir, vis) and the IVIF branch only
        w_ir, w_vis = information_weights(ir, vis, self.info, per_sample=cfg.per_sample_weights)
        with self.autocast():
            f_i = m.encoder(ir, vis)
            with torch.no_grad():
                f_m = m.encoder(near, far)
            out = m.decoder(f_i, m.transformer(f_i, f_m, mode="ivif", detach_other=True))
            rec = m.reconstruction(f_i)
        ivif_fusion = intensity_loss(out.float(), ir, vis, w_ir, w_vis)
        ivif_rec = reconstruction_loss(rec, vis, cfg.ssim_variant)
        self._optimise(ivif_fusion + ivif_rec, "IVIF")

        # 2. MFIF: gradients through E(near, far) and the MFIF branch only
        with self.autocast():
            f_m = m.encoder(near, far)
            with torch.no_grad():
                f_i = m.encoder(ir, vis)
            out = m.decoder(f_m, m.transformer(f_i, f_m, mode="mfif", detach_other=True))
            rec = m.reconstruction(f_m)
        mfif_fusion = mse_per_sample(out.float(), vis).mean()
        mfif_rec = reconstruction_loss(rec, vis, cfg.ssim_variant)
        self._optimise(mfif_fusion + mfif_rec, "MFIF")

        return {"ivif": (ivif_fusion + ivif_rec).item(), "ivif_fusion": ivif_fusion.item(), "ivif_rec": ivif_rec.item(),
                "mfif": (mfif_fusion + mfif_rec).item(), "mfif_fusion": mfif_fusion.item(),
                "mfif_rec": mfif_rec.item(), "w_ir": w_ir.mean().item(), "lr": self.opt.param_groups[0]["lr"]}

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        cfg = self.cfg
        start = self.step * cfg.batch
        if cfg.workers <= 0:
            k = start
            while True:
                yield self.stream.batch(k, cfg.batch)
                k += cfg.batch
        samples = _Samples(self.stream, start, cfg.steps * cfg.batch)
        yield from torch.utils.data.DataLoader(samples, batch_size=cfg.batch, shuffle=False, num_workers=cfg.workers,
                                               worker_init_fn=_worker_init, persistent_workers=False,
                                               pin_memory=self.device.type == "cuda")

    # ----------------------------------------------------------------------------------------------- loop
    def fit(self) -> Path:
        """Train from the current step to `config.steps` (or until `time_limit` minutes have passed in this session),
        then write the save_pretrained folder to `config.out`.

        Ctrl-C (KeyboardInterrupt) writes a checkpoint first, so `--resume` loses nothing."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        if self.step == 0 and ((self.out / "model.safetensors").exists() or any(self.checkpoint_dir().glob("*.pt"))):
            raise GifnetError(f"{self.out}: already holds a training run; choose another --out or pass --resume")
        log.info("training %s: %d pairs, steps %d..%d, crop %d, batch %d, device %s, precision %s", cfg.data,
                 len(self.train_set), self.step, cfg.steps, cfg.crop, cfg.batch, self.device,
                 self.amp_dtype or "fp32")
        bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True, smoothing=0.1)
        batches = self._batches()
        t0 = start = time.perf_counter()
        try:
            while self.step < cfg.steps:
                logs = self.train_step(next(batches))
                self.step += 1
                out_of_time = cfg.time_limit is not None and time.perf_counter() - start >= 60 * cfg.time_limit
                last = self.step == cfg.steps or out_of_time
                for k, v in logs.items():   # running means shown in the progress bar
                    self.running[k] = v if k not in self.running else 0.9 * self.running[k] + 0.1 * v
                validated = self.val_set is not None and (self.step % cfg.val_every == 0 or last)
                if validated:
                    self.last_val = self.validate()
                    logs.update(self.last_val)
                    log.info("step %d validation: %s", self.step, validation_summary(self.last_val))
                if self.step % cfg.log_every == 0 or last or validated:
                    bar.set_postfix(ivif=f"{self.running['ivif']:.4f}", mfif=f"{self.running['mfif']:.4f}",
                                    w_ir=f"{self.running['w_ir']:.2f}")
                    self._append_log({"step": self.step, **logs})
                bar.update(1)
                for cb in self.callbacks:
                    cb(self.step, dict(logs))
                if self.step % cfg.ckpt_every == 0 or last:
                    self.elapsed += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    self.save_checkpoint()
                if out_of_time and self.step < cfg.steps:
                    log.warning("time limit of %g min reached at step %d of %d; weights written, continue with "
                                "--resume", cfg.time_limit, self.step, cfg.steps)
                    break
        except KeyboardInterrupt:
            self.elapsed += time.perf_counter() - t0
            path = self.save_checkpoint()
            log.warning("interrupted at step %d; checkpoint %s; continue with --resume", self.step, path)
            raise
        finally:
            bar.close()
        self.save_pretrained(self.out)
        return self.out

    def _append_log(self, entry: dict) -> None:
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    # ----------------------------------------------------------------------------------------------- validation
    def validate(self) -> dict[str, float]:
        """Score the validation crops (`gifnet.validation.score`, fp32): `val/<group>/<metric>`; with `val_reference`
        also their ratios to that model's scores on the same crops: `ratio/<group>/<metric>`, `ratio/min`,
        `ratio/mean`, `ratio/worst/<metric>` (`gifnet.validation.ratios`)."""
        ours = score(self.model, self.val_set, device=self.device)
        out = {f"val/{k}": v for k, v in ours.items()}
        if self.cfg.val_reference:
            if self.reference_scores is None:
                reference = load_model(self.cfg.val_reference).to(self.device)
                self.reference_scores = score(reference, self.val_set, device=self.device)
            out.update({f"ratio/{k}": v for k, v in ratios(ours, self.reference_scores).items()})
        return out

    # ----------------------------------------------------------------------------------------------- checkpoints
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def save_checkpoint(self) -> Path:
        d = self.checkpoint_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"step_{self.step:07d}.pt"
        state = {"format": "gifnet-train-1", "step": self.step, "data_position": self.step * self.cfg.batch,
                 "config": self.cfg.to_dict(), "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scaler": self.scaler.state_dict() if self.scaler is not None else None, "rng": _rng_state(),
                 "elapsed": self.elapsed, "running": self.running, "last_val": self.last_val}
        _atomic_write(path, lambda p: torch.save(state, p))
        for old in sorted(d.glob("step_*.pt"))[:-self.cfg.keep_ckpts]:
            old.unlink()
        log.info("checkpoint %s", path)
        return path

    @staticmethod
    def read_checkpoint(path: str | os.PathLike) -> dict:
        """A checkpoint's contents, read with weights_only=True (tensors and plain containers only)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise GifnetError(f"{path}: not a readable gifnet training checkpoint ({type(e).__name__}); "
                              "delete it to resume from the one before") from None
        if not isinstance(state, dict) or state.get("format") != "gifnet-train-1":
            raise GifnetError(f"{path}: not a gifnet training checkpoint")
        return state

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        path = Path(path)
        state = self.read_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.running, self.last_val = dict(state["running"]), dict(state["last_val"])
        if state["data_position"] != self.step * self.cfg.batch:
            raise GifnetError(f"{path}: data position {state['data_position']} does not match step {self.step}")
        log_file = self.out / "log.jsonl"   # drop entries written after this checkpoint by an interrupted session
        if log_file.exists():
            keep = [ln for ln in log_file.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step]
            log_file.write_text("".join(ln + "\n" for ln in keep))
        log.info("resumed from %s at step %d", path, self.step)

    @classmethod
    def resume(cls, out: str | os.PathLike, callbacks: tuple[Callback, ...] | list[Callback] = (),
               **overrides) -> Trainer:
        """Continue the run in `out` from its latest checkpoint. Only the runtime fields (`TrainConfig.RUNTIME`:
        steps, device, threads, checkpoint/validation/log cadence) may be overridden."""
        ckpts = sorted((Path(out) / "checkpoints").glob("step_*.pt"))
        if not ckpts:
            raise GifnetError(f"{out}: no checkpoints to resume from (expected {out}/checkpoints/step_*.pt)")
        saved = cls.read_checkpoint(ckpts[-1])["config"]
        cfg = TrainConfig.from_dict(saved)
        changed = {k: v for k, v in overrides.items() if k not in TrainConfig.RUNTIME and saved.get(k) != v}
        if changed:
            log.warning("resuming keeps the run's settings; ignoring %s", changed)
        cfg = dataclasses.replace(cfg, out=str(out), **{k: v for k, v in overrides.items() if k in TrainConfig.RUNTIME})
        trainer = cls(cfg, callbacks, _load_init=False)
        trainer.load_checkpoint(ckpts[-1])
        if trainer.step > cfg.steps:
            raise GifnetError(f"{out}: the checkpoint is at step {trainer.step}, beyond --steps {cfg.steps}")
        return trainer

    # ----------------------------------------------------------------------------------------------- output
    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """config.json + model.safetensors (`gifnet.hub.save_weights`) + README.md, the model card."""
        folder = Path(folder)
        save_weights(self.model, folder, metadata={"gifnet_version": __version__, "steps": self.step,
                                                   "data": Path(self.cfg.data).name})
        _atomic_write(folder / "README.md", lambda p: Path(p).write_text(self.model_card()))
        log.info("weights written to %s", folder)
        return folder

    def model_card(self) -> str:
        cfg = self.cfg
        hw = (torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
              else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
        recipe = "\n".join(f"| {k} | {v} |" for k, v in cfg.to_dict().items()
                           if k not in ("out", "data", "val_data", "multifocus"))
        losses = ", ".join(f"{k} {v:.4f}" for k, v in self.running.items() if k != "lr")
        val = validation_table(self.last_val) if self.last_val else "_no validation folder was given_"
        stopped = f" of {cfg.steps} planned (stopped by the time limit)" if self.step < cfg.steps else ""
        return f"""---
library_name: gifnet
tags: [image-fusion, infrared-visible, multi-focus, gifnet]
---
# GIFNet weights ({Path(cfg.out).name})

GIFNet ("One Model for ALL: Low-Level Task Interaction Is a Key to Task-Agnostic Image Fusion", CVPR 2025)
{'fine-tuned from `' + str(cfg.init) + '`' if cfg.init else 'trained from scratch'} with `gifnet.trainer`
(gifnet {__version__}). Load with `gifnet.hub.load_model("<this folder>")`.

## Data
- Infrared/visible pairs: `{cfg.data}` ({len(self.train_set)} pairs), random {cfg.crop}x{cfg.crop} grey crops
  (luma){', random flips' if cfg.flips else ''}.
- Multi-focus pairs: synthesised from each visible crop by blurring complementary smooth random regions
  (`gifnet.data.synthesize_multifocus`, {cfg.multifocus}).

## Recipe
The release's two-step schedule (an IVIF and an MFIF Adam step per batch, gradient isolation between the tasks),
information weights from `{cfg.weights}` ({'per sample' if cfg.per_sample_weights else 'per batch'}),
MS-SSIM variant `{cfg.ssim_variant}`.

| setting | value |
|---|---|
{recipe}

## Run
- steps: {self.step}{stopped} (batches of {cfg.batch}; {2 * self.step} optimiser steps)
- hardware: {hw}, precision {self.amp_dtype or 'fp32'}, torch {torch.__version__}
- training wall time: {self.elapsed / 60:.1f} min
- finished: {datetime.datetime.now().isoformat(timespec='seconds')}
- final running losses: {losses}

## Validation (`{cfg.val_data}`, centre crops of {cfg.val_crop} px, {cfg.val_images} pairs per group)
{val}

Full evaluation: `gifnet evaluate` on the benchmark sets (not run by the trainer).
"""


# ------------------------------------------------------------------------------------------------------- CLI
def add_parser(subparsers) -> argparse.ArgumentParser:
    """`gifnet train ...` (added to the `gifnet` command by gifnet.cli._add_train). Options left out keep the
    TrainConfig defaults (or, with --resume, the run's own settings)."""
    p = subparsers.add_parser("train", help="train GIFNet (or fine-tune it) on a folder of infrared/visible pairs",
                              description="Train GIFNet with the release's two-step recipe. Multi-focus pairs are "
                                          "synthesised from the visible images.")
    d = TrainConfig()
    p.add_argument("--data", required=True, help="folder with ir/ and vis/ sub-folders (matching file names)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl and the final weights")
    p.add_argument("--steps", type=int, help=f"batches to train (default {d.steps}); each makes two Adam steps")
    p.add_argument("--crop", type=int, help=f"crop side in pixels (default {d.crop})")
    p.add_argument("--batch", type=int, help=f"batch size (default {d.batch})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {d.lr})")
    p.add_argument("--schedule", choices=("constant", "cosine"), help=f"learning-rate schedule (default {d.schedule})")
    p.add_argument("--warmup", type=int, help="linear warm-up steps (default 0)")
    p.add_argument("--lr-min", type=float, dest="lr_min", help=f"final lr of the cosine schedule (default {d.lr_min})")
    p.add_argument("--seed", type=int, help=f"seed of the initialisation and the data stream (default {d.seed})")
    p.add_argument("--no-flips", dest="flips", action="store_const", const=False,
                   help="no random flips (the release used none)")
    p.add_argument("--weights", choices=("gradient", "densenet"),
                   help="information weights: weight-free gradient energy (default), or DenseNet-121 features as the "
                        "release (downloads timm/densenet121.tv_in1k once)")
    p.add_argument("--per-sample-weights", dest="per_sample_weights", action="store_const", const=True,
                   help="one weight pair per sample, not per batch")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights: a save_pretrained folder, .safetensors, the authors' .model, "
                        "'official' or a Hub id (see gifnet.hub.load_model)")
    p.add_argument("--freeze", nargs="+", metavar="PREFIX",
                   help="keep parameters whose names start with PREFIX fixed (e.g. encoder.)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto (default): bf16/fp16 autocast on CUDA, fp32 on CPU; bf16 also works on CPU")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False,
                   help="keep the NCHW memory layout (NHWC is the default: much faster depthwise convolutions on CPU)")
    p.add_argument("--workers", type=int, help="data-loading processes (default 0)")
    p.add_argument("--grad-clip", type=float, dest="grad_clip", help="clip the gradient norm")
    p.add_argument("--ckpt-every", type=int, dest="ckpt_every", help=f"checkpoint period (default {d.ckpt_every})")
    p.add_argument("--val", dest="val_data", metavar="DIR",
                   help="held-out pairs for periodic validation metrics: an evaluation root (tno/, lytro/, mefb/, "
                        "harvard/..., see gifnet.validation) or a folder with ir/ and vis/")
    p.add_argument("--val-reference", dest="val_reference", metavar="WEIGHTS",
                   help="also log the ratio of each validation score to these weights' on the same crops "
                        "(e.g. official)")
    p.add_argument("--val-every", type=int, dest="val_every", help=f"validation period (default {d.val_every})")
    p.add_argument("--time-limit", type=float, dest="time_limit", metavar="MIN",
                   help="stop after MIN minutes of this session (checkpoint + weights written; --resume continues)")
    p.add_argument("--val-images", type=int, dest="val_images",
                   help=f"pairs validated per group (default {d.val_images})")
    p.add_argument("--val-crop", type=int, dest="val_crop", help=f"validation centre crop (default {d.val_crop})")
    p.set_defaults(handler=run)
    return p


def given_settings(args: argparse.Namespace) -> dict:
    """The TrainConfig fields set on the command line."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "freeze" in given:
        given["freeze"] = tuple(given["freeze"])
    return given


def run(args: argparse.Namespace) -> int:
    """Handler of `gifnet train`. SIGTERM is treated like Ctrl-C: a checkpoint is written before exiting."""
    given = given_settings(args)

    def on_term(signum, frame):
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        if args.resume:
            trainer = Trainer.resume(given.pop("out"), **given)
        else:
            trainer = Trainer(TrainConfig(**given))
        out = trainer.fit()
    except KeyboardInterrupt as e:            # Ctrl-C, or SIGTERM/SIGHUP (gifnet.errors.Interrupted)
        return 128 + getattr(e, "signum", signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("done: load the weights with gifnet.load_model(%r) or --weights %s", str(out), out)
    return 0
