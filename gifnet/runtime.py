"""Where and how a training run executes: the device, the precision, and the CPU allocator.

    device = pick_device("auto")                  # cuda if available, else cpu
    dtype, scaler = pick_precision("auto", device)  # None (fp32) / bf16 / fp16 (+ a grad scaler)
    with autocast(device, dtype): ...

Errors name the parameter (`device`, `precision`); the CLI maps them to its flags.
"""
from __future__ import annotations

import contextlib
import ctypes

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
