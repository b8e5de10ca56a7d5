"""The GPU path: inference parity with the release on CUDA (fp32, whole image and tiled), bf16 close to fp32, and a
training smoke run under torchrun with the GPUs present (NCCL between them when there are two or more). Marked
`cuda` and skipped without a CUDA GPU, so CI (no GPU) reports them as skipped; on a GPU machine:
`pytest -m cuda tests/test_cuda.py`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from test_data import write_pairs  # tests/ is on sys.path (pytest prepend import mode)

from gifnet.hub import load_model
from gifnet.tiling import infer

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]

REPO = Path(__file__).resolve().parents[1]
PARITY_CASES = ["ivif_llvip_crop", "medical_pet_mri", "meif_over_under", "mfif_near_far", "nirvis", "remote_ms1_pan"]


@pytest.fixture(scope="module")
def official_cuda(shared):
    return load_model(shared / "checkpoints/official/Final.model", device="cuda")


def parity_case(shared, case):
    d = shared / "parity" / case
    a, b = (np.asarray(Image.open(d / f"net_in_{s}.png"), dtype=np.float32) / 255 for s in "ab")
    return a, b, np.load(d / "net_out_y255.npy").squeeze()


@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_on_cuda_full_frame_and_tiled(official_cuda, shared, case):
    """fp32 on the GPU is the release's output to the CPU engine's tolerance (TF32 is off while the engine runs)."""
    a, b, ref = parity_case(shared, case)
    assert np.abs(infer(official_cuda, a, b, tile="full") * 255 - ref).max() <= 0.05
    assert np.abs(infer(official_cuda, a, b, tile=96) * 255 - ref).max() <= 0.05
    assert torch.backends.cudnn.allow_tf32        # PyTorch's default is restored afterwards


def test_bf16_on_cuda_is_close_to_fp32(official_cuda, shared):
    """bf16 weights and activations: about 63 dB PSNR from fp32 on the CPU; the GPU must stay above 55 dB."""
    a, b, _ = parity_case(shared, "ivif_llvip_crop")
    fp32, bf16 = infer(official_cuda, a, b), infer(official_cuda, a, b, precision="bf16")
    psnr = 10 * np.log10(1 / np.mean((fp32.astype(np.float64) - bf16) ** 2))
    assert psnr >= 55, f"bf16 is {psnr:.1f} dB from fp32"


def test_training_under_torchrun_on_the_gpus(tmp_path):
    """A few batches under torchrun, one process per GPU (at most 2): NCCL between the processes when there are two,
    bf16 autocast, the weights written once, finite losses."""
    procs = min(2, torch.cuda.device_count())
    data = write_pairs(tmp_path / "pairs", names=tuple("abcdef"), size=(48, 56))
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
                        "-m", "gifnet", "train", "--data", str(data), "--out", str(out), "--steps", "4", "--crop", "32",
                        "--batch", "4", "--device", "cuda", "--precision", "bf16", "--ckpt-every", "2"],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "model.safetensors").is_file() and r.stderr.count("done: load") == 1
    losses = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line]
    assert losses and all(np.isfinite(v) for entry in losses for k, v in entry.items() if k != "step")
