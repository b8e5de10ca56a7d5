"""`gifnet export` and the ONNX Runtime backend: the exported graph equals PyTorch at odd sizes and batches (random
weights, a non-zero gate; no ../shared needed), parity with the release on every case of ../shared/parity, one pipeline
(colour, bit depth, folders, CLI, demo) on both backends, the README's torch-free example, and one-line errors for a
corrupt file, a foreign graph, a too-small or too-large image and missing packages."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import gifnet  # noqa: E402
from gifnet import hub, pipeline  # noqa: E402
from gifnet.cli import main  # noqa: E402
from gifnet.errors import GifnetError  # noqa: E402
from gifnet.model import GIFNet  # noqa: E402
from gifnet.onnx import OnnxModel, export, weights_identity  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PARITY_CASES = ["ivif_llvip_crop", "medical_pet_mri", "meif_over_under", "mfif_near_far", "nirvis", "remote_ms1_pan"]


@pytest.fixture(scope="module")
def net() -> GIFNet:
    """Random weights that keep the signal alive through every layer (PyTorch's default initialisation gives an
    almost constant output: nothing to compare), the RLN affines moved off their identity start, a non-zero gate (at
    zero, block 0's IVIF branch would not reach the output), and the last layer scaled so the output spans [0, 1]."""
    torch.manual_seed(0)
    m = GIFNet().eval()
    with torch.no_grad():
        for layer in m.modules():
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    layer.bias.normal_(0, 0.1)
        for name, p in m.named_parameters():
            if ".norm." in name:
                p.add_(0.2 * torch.randn_like(p))
        m.transformer.gate_mfif.fill_(0.4)
        last, seen = m.decoder.decoder[-2], []
        hook = last.register_forward_hook(lambda layer, inputs, out: seen.append(out))
        m(*torch.rand(2, 1, 1, 31, 45, generator=torch.Generator().manual_seed(1)))
        hook.remove()
        last.bias.sub_(seen[0].mean()).div_(seen[0].std())
        last.weight.div_(seen[0].std())
    return m


@pytest.fixture(scope="module")
def exported(net, tmp_path_factory) -> tuple[Path, Path]:
    """(model.onnx written by `gifnet export`, the weights folder it was exported from)."""
    d = tmp_path_factory.mktemp("onnx")
    weights = hub.save_weights(net, d / "random")
    assert main(["export", str(d / "random.onnx"), "--weights", str(weights)]) == 0
    return d / "random.onnx", weights


@pytest.fixture(scope="module")
def backend(exported) -> OnnxModel:
    return OnnxModel(exported[0])


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


# ------------------------------------------------------------------------------------------------- the exported graph
@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 8, 21), (1, 9, 13), (3, 17, 8), (1, 31, 45), (2, 70, 33)])
def test_export_equals_pytorch(net, backend, shape):
    """Sizes at the minimum (one row of windows), odd, not multiples of 4 or 8, and batches of 1-3."""
    n, h, w = shape
    a, b = torch.rand(2, n, 1, h, w, generator=torch.Generator().manual_seed(h * w))
    with torch.no_grad():
        ref = net(a, b).numpy()
    out = backend.session.run(None, {"a": a.numpy(), "b": b.numpy()})[0]
    assert out.shape == ref.shape and out.dtype == np.float32
    assert ref.std() > 0.1 and np.abs(out - ref).max() <= 5e-5      # measured: up to 1.1e-5 (float32 rounding)


def test_graph_is_valid_dynamic_and_described(exported):
    path, weights = exported
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    io = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
          for v in [*proto.graph.input, *proto.graph.output]}
    assert list(io) == ["a", "b", "fused"]
    for dims in io.values():
        assert dims[1] == 1 and all(isinstance(d, str) and d for d in (dims[0], dims[2], dims[3]))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["gifnet_version"] == gifnet.__version__
    assert meta["weights"] == "random" and meta["weights_sha256"] == hub.sha256_of(weights / "model.safetensors")
    assert json.loads(meta["slots"])["medical"] == "PET / SPECT / CT | MRI"
    assert meta["value_range"] == "[0, 1]" and meta["min_size"] == "8" and meta["precision"] == "fp32"


def test_default_weights_identity():
    if not (hub.BUNDLED_WEIGHTS / "model.safetensors").is_file():
        pytest.skip("no bundled weights in this checkout")
    name, file = weights_identity(hub.BUNDLED_WEIGHTS)
    assert name == hub.BUNDLED_WEIGHTS.name and file == hub.BUNDLED_WEIGHTS / "model.safetensors"


@pytest.mark.slow
@pytest.mark.parametrize("case", PARITY_CASES)
def test_parity_with_release(official_onnx, shared, case):
    d = shared / "parity" / case
    a, b = (np.asarray(Image.open(d / f"net_in_{s}.png"), dtype=np.float32) / 255 for s in "ab")
    out = official_onnx.run(a, b) * 255
    assert np.abs(out - np.load(d / "net_out_y255.npy").squeeze()).max() <= 0.05


@pytest.fixture(scope="module")
def official_onnx(shared, tmp_path_factory) -> OnnxModel:
    path = tmp_path_factory.mktemp("official") / "official.onnx"
    return OnnxModel(export(path, weights=shared / "checkpoints/official/Final.model"))


@pytest.mark.slow
def test_fp16_export(net, tmp_path):
    path = export(tmp_path / "half.onnx", weights=hub.save_weights(net, tmp_path / "w"), precision="fp16")
    half = OnnxModel(path)
    assert half.precision == "fp16" and half.input_dtype == np.float32
    a, b = np.random.default_rng(0).random((2, 48, 61), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])[0, 0].numpy()
    out = half.run(a, b)
    assert out.dtype == np.float32
    assert 10 * np.log10(1 / np.mean((out.astype(np.float64) - ref) ** 2)) > 40


# ----------------------------------------------------------------------------------------- one pipeline, two backends
def test_load_model_returns_the_onnx_backend(exported):
    model = gifnet.load_model(str(exported[0]))
    assert isinstance(model, OnnxModel) and "CPUExecutionProvider" in repr(model)
    assert gifnet.load_model(model) is model


def test_pipeline_is_the_same_on_both_backends(net, backend):
    rng = np.random.default_rng(1)
    rgb_a, rgb_b = (rng.integers(0, 256, (30, 41, 3), dtype=np.uint8) for _ in range(2))
    grey16 = rng.integers(0, 65536, (30, 41), dtype=np.uint16)
    for args, task in (((rgb_a, rgb_b), "mfif"), ((grey16, rgb_b), "ivif")):
        ours, theirs = pipeline.fuse(*args, task=task, model=backend), pipeline.fuse(*args, task=task, model=net)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    flt = rng.random((25, 19), dtype=np.float32)
    assert np.abs(pipeline.enhance(flt, model=backend) - pipeline.enhance(flt, model=net)).max() <= 1e-5
    bands = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    pan = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    ms, ms_torch = (pipeline.fuse_multispectral(bands, pan, model=m).astype(int) for m in (backend, net))
    assert ms.shape == ms_torch.shape == (20, 24, 3)
    assert np.abs(ms - ms_torch).mean() < 0.05      # histogram matching may swap near-equal pixels: not max


def test_cli_files_and_folders_with_onnx_weights(exported, tmp_path, capsys):
    path, weights = exported
    rng = np.random.default_rng(2)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for name in ("1", "2"):
            Image.fromarray(rng.integers(0, 256, (24, 30), dtype=np.uint8)).save(tmp_path / d / f"{name}.png")
    a, b = tmp_path / "a/1.png", tmp_path / "b/1.png"
    assert run_cli(capsys, "fuse", a, b, "-o", tmp_path / "onnx.png", "--weights", path)[0] == 0
    assert run_cli(capsys, "fuse", a, b, "-o", tmp_path / "torch.png", "--weights", weights)[0] == 0
    ours, theirs = (np.asarray(Image.open(tmp_path / f), dtype=int) for f in ("onnx.png", "torch.png"))
    assert np.abs(ours - theirs).max() <= 1
    code, text = run_cli(capsys, "fuse", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out", "--weights", path)
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["1.png", "2.png"]
    code, text = run_cli(capsys, "enhance", a, "-o", tmp_path / "e.png", "--weights", path, "--precision", "bf16")
    assert code == 2 and "PyTorch-backend option" in text and len(text.strip().splitlines()) == 1
    code, text = run_cli(capsys, "enhance", a, "-o", tmp_path / "e.png", "--weights", path, "--tile", "16")
    assert code == 2 and "cannot tile" in text and not (tmp_path / "e.png").exists()


def test_demo_takes_onnx_weights(exported, monkeypatch):
    demo = pytest.importorskip("gifnet.demo")
    monkeypatch.setenv("GIFNET_WEIGHTS", str(exported[0]))
    assert isinstance(demo.get_model(), OnnxModel)
    rng = np.random.default_rng(3)
    pa, pb = (rng.integers(0, 256, (20, 28, 3), dtype=np.uint8) for _ in range(2))
    assert np.array_equal(demo._fuse_planes(pa, pb, "mfif"), pipeline.fuse(pa, pb, task="mfif", model=exported[0]))


def test_readme_example_runs_without_torch(exported, tmp_path):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Deploy with ONNX Runtime"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "torch" not in code.replace("onnxruntime", "") and len(code.strip().splitlines()) <= 12
    rng = np.random.default_rng(4)
    ir = rng.integers(0, 256, (36, 52), dtype=np.uint8)
    vis = rng.integers(0, 256, (36, 52, 3), dtype=np.uint8)
    Image.fromarray(ir).save(tmp_path / "ir.png")
    Image.fromarray(vis).save(tmp_path / "vis.png")
    (tmp_path / "gifnet.onnx").symlink_to(exported[0])
    no_torch = "import sys; sys.modules['torch'] = None; exec(open('example.py').read())"
    (tmp_path / "example.py").write_text(code)
    subprocess.run([sys.executable, "-c", no_torch], cwd=tmp_path, check=True, capture_output=True)
    ours = np.asarray(Image.open(tmp_path / "fused.png"), dtype=float)
    theirs = pipeline.fuse(ir, vis, task="ivif", model=exported[0]).astype(float)
    assert ours.shape == theirs.shape == (36, 52, 3)
    assert np.abs(ours - theirs).mean() < 1.5          # Pillow's 8-bit luma and chroma vs ours in floating point


# ------------------------------------------------------------------------------------------------------- bad input
def test_corrupt_file_and_foreign_graph_are_one_line_errors(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 not a protobuf " * 20)
    with pytest.raises(GifnetError, match="not a readable ONNX model") as e:
        gifnet.load_model(corrupt)
    assert "\n" not in str(e.value)
    x = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, 1, "h", "w"]) for n in "abcy"]
    graph = onnx.helper.make_graph([onnx.helper.make_node("Sum", ["a", "b", "c"], ["y"])], "three", x[:3], x[3:])
    foreign = tmp_path / "three.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), foreign)
    with pytest.raises(GifnetError, match="has 3 input"):
        OnnxModel(foreign)
    img = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16), 99, np.uint8)).save(img)
    for weights, message in ((corrupt, "not a readable ONNX model"), (foreign, "has 3 input"),
                             (tmp_path / "missing.onnx", "weights not found")):
        code, text = run_cli(capsys, "enhance", img, "-o", tmp_path / "e.png", "--weights", weights)
        assert code == 2 and message in text and len(text.strip().splitlines()) == 1


def test_too_small_and_too_large_images_are_refused(backend, monkeypatch):
    with pytest.raises(GifnetError, match="at least 8x8"):
        pipeline.fuse(np.zeros((7, 20), np.uint8), np.zeros((7, 20), np.uint8), model=backend)
    monkeypatch.setattr(pipeline, "available_memory", lambda: 2 << 30)
    big = np.zeros((1200, 1000), np.float32)       # ~12 GB for ONNX Runtime: refused before it runs
    with pytest.raises(GifnetError, match=r"needs about [\d.]+ GB .*no tiling.*PyTorch weights"):
        pipeline.enhance(big, model=backend)


def test_export_cli_takes_the_output_as_o_too(exported, backend, tmp_path, capsys):
    """`gifnet export -o OUT.onnx` as in the other commands; none or two outputs is a one-line error."""
    code, _ = run_cli(capsys, "export", "-o", tmp_path / "o.onnx", "--weights", exported[1])
    a, b = np.random.default_rng(0).random((2, 1, 1, 16, 24), dtype=np.float32)
    same = [m.session.run(None, {"a": a, "b": b})[0] for m in (OnnxModel(tmp_path / "o.onnx"), backend)]
    assert code == 0 and np.array_equal(*same)
    code, text = run_cli(capsys, "export", "--weights", exported[1])
    assert code == 2 and "needs one output file" in text and "Traceback" not in text
    code, text = run_cli(capsys, "export", tmp_path / "p.onnx", "-o", tmp_path / "q.onnx")
    assert code == 2 and "two output files" in text and not (tmp_path / "p.onnx").exists()


def test_export_refuses_bad_targets_before_tracing(tmp_path):
    with pytest.raises(GifnetError, match="must end in .onnx"):
        export(tmp_path / "model.onx")
    (tmp_path / "taken.onnx").write_bytes(b"mine")
    with pytest.raises(GifnetError, match="already exists.*--overwrite"):
        export(tmp_path / "taken.onnx")
    assert (tmp_path / "taken.onnx").read_bytes() == b"mine"
    with pytest.raises(GifnetError, match="unknown precision"):
        export(tmp_path / "x.onnx", precision="int8")
    with pytest.raises(GifnetError, match="opset 18 or newer"):
        export(tmp_path / "x.onnx", opset=13)


def test_missing_packages_name_the_extra(exported, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(GifnetError, match=r"pip install 'gifnet\[export\]'"):
        OnnxModel(exported[0])
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(GifnetError, match=r"onnxscript, onnxruntime; install the export extra.*gifnet\[export\]"):
        export(tmp_path / "x.onnx")
