"""Where and how a training run executes: the device, the precision, the CPU allocator, and the processes of a
`torchrun` launch (`init_distributed`, `Distributed`).

    device = pick_device("auto")                  # cuda if available, else cpu
    dtype, scaler = pick_precision("auto", device)  # None (fp32) / bf16 / fp16 (+ a grad scaler)
    with autocast(device, dtype): ...

Errors name the parameter (`device`, `precision`); the CLI maps them to its flags.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import hashlib
import os
from dataclasses import dataclass

import torch

from .errors import GifnetError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(name: str) -> torch.device:
    """"auto" (CUDA when available, else the CPU), "cpu", "cuda", "cuda:1", ..."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GifnetError(f"unknown device {name!r}; use auto, cpu or cuda", param="device") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GifnetError(f"device {name!r} requested but this torch has no CUDA GPU; use cpu", param="device")
    return dev


def pick_precision(name: str, device: torch.device) -> tuple[torch.dtype | None, torch.amp.GradScaler | None]:
    """The autocast dtype (None: fp32) and, for fp16, a gradient scaler. "auto": bf16 on CUDA GPUs that support it,
    else fp16 on CUDA; fp32 on the CPU (bf16 is faster on CPUs with AVX512-BF16 or AMX: ask for it)."""
    cuda = device.type == "cuda"
    if name == "auto":
        name = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if name not in PRECISIONS:
        raise GifnetError(f"precision must be auto, fp32, bf16 or fp16, got {name!r}", param="precision")
    if name == "fp16" and not cuda:
        raise GifnetError("fp16 mixed precision needs a CUDA GPU; use bf16 or fp32 on the CPU", param="precision")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
    return dtype, (torch.amp.GradScaler("cuda") if name == "fp16" else None)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for `dtype` on the device, or nothing for fp32."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve large blocks from the heap and keep freed memory for reuse (mallopt M_MMAP_MAX=0,
    M_TRIM_THRESHOLD=1 GiB). By default every block over 32 MB is mapped fresh from the OS and its pages are zeroed
    on first touch; a 128x128 training batch makes hundreds of them per step, which made it about 1.6x slower on the
    2-core development CPU. The process keeps its peak memory until it exits. Returns False where the C library is
    not glibc (nothing changed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-4, 0)) and bool(libc.mallopt(-1, 1 << 30))   # M_MMAP_MAX, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


# ------------------------------------------------------------------------------------------------- several processes
@dataclass
class Distributed:
    """This process's place in a `torchrun` launch (one process per GPU, or several CPU processes): `rank` of
    `world` processes, `local_rank` on its machine. A plain run is rank 0 of 1, and every method is then a no-op."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, logs, the progress bar and the weights (rank 0)."""
        return self.rank == 0

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum `t` over the processes, in place (and return it)."""
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t

    def agree(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's `flag` on every rank (e.g. "the time limit is reached"): the ranks stop together."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.broadcast(t, 0)
        return bool(t.item())

    def same_everywhere(self, text: str, device: torch.device, what: str) -> None:
        """Raise GifnetError unless every rank has the same `text` (e.g. its settings)."""
        if self.world == 1:
            return
        digest = hashlib.sha256(text.encode()).digest()[:8]
        t = torch.tensor(list(digest), dtype=torch.float64, device=device)
        ref = t.clone()
        torch.distributed.broadcast(ref, 0)
        mismatch = torch.tensor([float(not torch.equal(t, ref))], device=device)
        torch.distributed.all_reduce(mismatch)
        if mismatch.item():
            raise GifnetError(f"the {self.world} processes were started with different {what}; give every process the "
                              "same command line")

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def init_distributed(device: str, *, timeout_s: float = 600) -> tuple[Distributed, str]:
    """Join the process group a `torchrun` launch describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT): NCCL between GPUs, gloo between CPU processes; collective operations time out after
    `timeout_s` seconds instead of hanging. Returns the process's place and its device name ("cuda" becomes
    "cuda:<local rank>"). Without those variables: rank 0 of 1, nothing to join."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), device
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise GifnetError(f"WORLD_SIZE={world} but {' and '.join(missing)} not set: start distributed training with "
                          "torchrun (e.g. torchrun --nproc_per_node 2 -m gifnet train ...)")
    cuda = pick_device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    try:
        torch.distributed.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world,
                                             timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise GifnetError(f"could not join the {world} training processes ({str(e).splitlines()[0][:200]}); check "
                          "the rendezvous address and that every node was started") from None
    return Distributed(rank, world, local), device
