"""gifnet.tiling: mirrored reads and boxes, plans within a memory budget, and exactness: full frame and tiles against
the release (../shared/parity), tiles against the full frame, the engine against the reference model, bf16 accuracy,
and a 3840x2160 `gifnet fuse` within the memory target."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gifnet.errors import GifnetError
from gifnet.hub import load_model
from gifnet.model import GIFNet, GIFNetConfig
from gifnet.tiling import (DEFAULT_TILE, Box, EngineWeights, Patch, Plan, cost, estimate, grid, infer, make_plan,
                           mirror, training_only)

REPO = Path(__file__).resolve().parents[1]
PARITY_CASES = ["ivif_llvip_crop", "medical_pet_mri", "meif_over_under", "mfif_near_far", "nirvis", "remote_ms1_pan"]
ALL_KEEPS = [("embed", "block0"), ("block0",), ()]
rng = np.random.default_rng(5)


@pytest.fixture(scope="module")
def official(shared) -> GIFNet:
    return load_model(shared / "checkpoints/official/Final.model")


def parity_case(shared, case):
    d = shared / "parity" / case
    a, b = (np.asarray(Image.open(d / f"net_in_{s}.png"), dtype=np.float32) / 255 for s in "ab")
    return a, b, np.load(d / "net_out_y255.npy").squeeze()


def grey_levels(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x - y).max() * 255)


# ------------------------------------------------------------------------------------------ boxes and mirrored reads
def test_mirror_is_reflect_padding():
    n = 9
    padded = F.pad(torch.arange(n, dtype=torch.float32)[None, None], (7, 7), mode="reflect")[0, 0]
    assert [mirror(i, n) for i in range(-7, n + 7)] == padded.long().tolist()
    with pytest.raises(ValueError):
        mirror(-n, n)


@pytest.mark.parametrize("box", [Box(-3, 5, -2, 11), Box(2, 13, 4, 9), Box(-7, 13, -7, 11), Box(10, 13, 0, 3)])
def test_take_equals_reflect_padding_of_the_frame(box):
    frame = (13, 11)
    t = torch.rand(*frame, 3)
    pad = 7
    padded = F.pad(t.permute(2, 0, 1)[None], (pad,) * 4, mode="reflect")[0].permute(1, 2, 0)
    expected = padded[box.y0 + pad:box.y1 + pad, box.x0 + pad:box.x1 + pad]
    assert torch.equal(Patch(t, Box(0, 13, 0, 11), frame).take(box), expected)
    # a patch holding only the pixels the mirrored read needs gives the same answer
    src = box.mirrored(frame)
    sub = Patch(t[src.y0:src.y1, src.x0:src.x1], src, frame)
    assert torch.equal(sub.take(box), expected)
    with pytest.raises(ValueError):
        Patch(t[src.y0 + 1:src.y1, src.x0:src.x1], Box(src.y0 + 1, src.y1, src.x0, src.x1), frame).take(box)


def test_grid_partitions_the_frame_and_snap_widens_to_windows():
    boxes = grid((37, 53), 16)
    cover = np.zeros((37, 53), int)
    for b in boxes:
        cover[b.y0:b.y1, b.x0:b.x1] += 1
    assert (cover == 1).all() and len(boxes) == 3 * 4
    assert Box(3, 17, 8, 16).snap(8, 0) == Box(0, 24, 8, 16)
    assert Box(3, 17, 8, 16).snap(8, 4) == Box(-4, 20, 4, 20)


def test_plans_respect_the_budget():
    small = DEFAULT_TILE
    assert make_plan(small - 5, small + 3).tile >= small + 3   # small images: one tile
    assert make_plan(480, 640, tile="full").tile >= 640
    assert make_plan(480, 640, tile=100).tile == 104           # rounded up to a multiple of 8
    roomy = make_plan(1080, 1920, budget=None)
    assert roomy.keep == ("embed", "block0") and roomy.tile < 1920
    tight = make_plan(1080, 1920, budget=roomy.bytes - 1)
    assert tight.bytes <= roomy.bytes - 1 and tight != roomy
    assert cost(1080, 1920, tight, 2) >= cost(1080, 1920, roomy, 2)       # the budget forced a slower plan
    huge = make_plan(2160, 3840, budget=1 << 30, threads=2)               # 4K in 1 GB: nothing fits to be kept
    assert huge.keep == () and huge.bytes <= 1 << 30
    leanest = make_plan(1080, 1920, budget=1)                   # nothing fits: the leanest plan, the caller refuses
    assert leanest.keep == () and leanest.workers == 1 and leanest.bytes == min(
        estimate(1080, 1920, "fp32", s, ()) for s in (32, 64, 128))
    assert make_plan(1080, 1920, threads=1).workers == 1
    assert make_plan(1080, 1920, precision="bf16").bytes < make_plan(1080, 1920, precision="fp32").bytes
    for bad in (0, 7, "big", -16):
        with pytest.raises(GifnetError, match="tile"):
            make_plan(64, 64, tile=bad)
    with pytest.raises(GifnetError, match="precision"):
        make_plan(64, 64, precision="fp16")


# --------------------------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_with_release_full_frame_and_tiled(official, shared, case):
    """fp32, the whole image at once and in tiles of 96 (several tiles, halos, mirrored borders): release's output."""
    a, b, ref = parity_case(shared, case)
    assert np.abs(infer(official, a, b, tile="full") * 255 - ref).max() <= 0.05
    assert np.abs(infer(official, a, b, tile=96) * 255 - ref).max() <= 0.05


@pytest.mark.parametrize("keep", ALL_KEEPS[1:])
def test_recomputed_passes_are_exact(official, shared, keep):
    """When the earlier passes are not kept, tiles recompute them on wider halos: still the release's output."""
    a, b, ref = parity_case(shared, "medical_pet_mri")
    plan = Plan(48, keep)
    assert np.abs(infer(official, a, b, plan=plan) * 255 - ref).max() <= 0.05


@pytest.mark.parametrize("hw,tile", [((37, 53), 16), ((101, 67), 24), ((8, 8), 8), ((9, 130), 32), ((66, 45), 40)])
def test_tiled_equals_full_frame_random_images(official, hw, tile):
    a, b = rng.random((2, *hw), dtype=np.float32)
    full = infer(official, a, b, tile="full")
    for keep in ALL_KEEPS:
        assert grey_levels(infer(official, a, b, plan=Plan(tile, keep)), full) <= 0.05


def test_tiled_equals_full_frame_real_image_odd_size(official, shared):
    a, b, _ = parity_case(shared, "nirvis")
    a, b = a[101:334, 203:414], b[101:334, 203:414]          # 211 x 233, odd, off the window grid
    full = infer(official, a, b, tile="full")
    for tile in (40, 64):
        assert grey_levels(infer(official, a, b, tile=tile), full) <= 0.05


def random_model(seed: int = 3, config: GIFNetConfig | None = None) -> GIFNet:
    """Random weights, larger than the initialisation's, and a non-trivial gate."""
    torch.manual_seed(seed)
    model = GIFNet(config).eval()
    with torch.no_grad():
        model.transformer.gate_mfif.fill_(0.7)
        for p in model.parameters():
            p.mul_(1.5)
    return model


@pytest.mark.parametrize("hw", [(45, 70), (8, 8), (37, 53), (9, 130), (66, 45)])
def test_engine_equals_reference_model_with_random_weights(hw):
    """The engine against model.forward, without ../shared: the folds (RLN, unembed + squeeze, expand + first conv)
    are algebra, not properties of one checkpoint; tiles, halos and kept/recomputed passes change nothing."""
    model = random_model()
    a, b = torch.rand(2, 1, 1, *hw)
    with torch.no_grad():
        ref = model(a, b)[0, 0].numpy()
    assert grey_levels(infer(model, a[0, 0], b[0, 0], tile="full"), ref) <= 0.05
    for tile, keep in ((16, ALL_KEEPS[0]), (24, ALL_KEEPS[1]), (16, ALL_KEEPS[2])):
        assert grey_levels(infer(model, a[0, 0], b[0, 0], plan=Plan(tile, keep)), ref) <= 0.05


def test_engine_follows_the_model_config():
    """Geometry comes from the model's config: other window, shift, frame multiple, depthwise kernel and widths."""
    cfg = GIFNetConfig(enc_channels=8, num_heads=1, window=4, frame_multiple=8, dw_kernel=3, bias_hidden=16)
    model = random_model(4, cfg)
    a, b = torch.rand(2, 1, 1, 29, 38)
    with torch.no_grad():
        ref = model(a, b)[0, 0].numpy()
    assert grey_levels(infer(model, a[0, 0], b[0, 0], tile="full"), ref) <= 0.05
    assert grey_levels(infer(model, a[0, 0], b[0, 0], plan=Plan(16, ())), ref) <= 0.05


def test_every_parameter_is_read_by_the_engine_or_training_only():
    """The engine's declared mapping (the parameters `EngineWeights` reads) and model.TRAINING_ONLY partition the model's
    parameters: a parameter added to the network cannot be silently ignored by the fast path."""
    model = GIFNet()
    names = {n for n, _ in model.named_parameters()}
    consumed = EngineWeights(model, torch.float32).consumed
    only_training = {n for n in names if training_only(n)}
    assert consumed | only_training == names
    assert not consumed & only_training


def test_training_only_parameters_do_not_change_inference():
    """model.TRAINING_ONLY is true of the reference model: perturbing those parameters leaves model(a, b) unchanged,
    while perturbing any other parameter tensor changes it."""
    model = random_model(5)
    a, b = torch.rand(2, 1, 1, 24, 24)
    with torch.no_grad():
        ref = model(a, b)
        for name, p in model.named_parameters():
            saved = p.clone()
            p.add_(torch.randn_like(p) * 0.5 + 0.5)
            changed = not torch.equal(model(a, b), ref)
            p.copy_(saved)
            assert changed != training_only(name), name


def test_bf16_is_close_to_fp32(official, shared):
    for case in ("ivif_llvip_crop", "medical_pet_mri"):
        a, b, _ = parity_case(shared, case)
        fp32 = infer(official, a, b, tile=128)
        bf16 = infer(official, a, b, precision="bf16", tile=128)
        psnr = 10 * np.log10(1 / np.mean((bf16 - fp32) ** 2))
        assert psnr >= 45, f"{case}: bf16 PSNR {psnr:.1f} dB"
        assert grey_levels(infer(official, a, b, precision="bf16", tile="full"), bf16) <= 1.0


def test_bad_inputs(official):
    with pytest.raises(GifnetError, match="at least 8x8"):
        infer(official, np.zeros((7, 30), np.float32), np.zeros((7, 30), np.float32))
    with pytest.raises(GifnetError, match="one shape"):
        infer(official, np.zeros((9, 30), np.float32), np.zeros((9, 31), np.float32))


# ------------------------------------------------------------------------------------------------- memory (slow)
@pytest.mark.slow
def test_cli_fuses_3840x2160_within_memory_target(tmp_path, shared):
    """The acceptance run: `gifnet fuse` on a 3840x2160 pair (the release's IVIF sample, upscaled) in a fresh process
    whose peak resident memory must stay <= 2.5 GB."""
    size = (3840, 2160)
    ir, vis = Image.open(shared / "samples/IVIF/ir/1.jpg"), Image.open(shared / "samples/IVIF/vis/1.jpg")
    ir.convert("L").resize(size, Image.BICUBIC).save(tmp_path / "ir.png")
    vis.convert("RGB").resize(size, Image.BICUBIC).save(tmp_path / "vis.png")
    out = tmp_path / "fused.png"
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    cmd = [sys.executable, "-c", probe, sys.executable, "-m", "gifnet", "fuse", str(tmp_path / "ir.png"),
           str(tmp_path / "vis.png"), "-o", str(out), "--task", "ivif", "--weights",
           str(shared / "checkpoints/official/Final.model")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    peak_gb = int(r.stdout.split()[-1]) * 1024 / 1e9
    assert peak_gb <= 2.5, f"peak RSS {peak_gb:.2f} GB"
    assert Image.open(out).size == size
