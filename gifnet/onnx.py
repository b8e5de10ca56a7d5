"""GIFNet outside PyTorch: `export` writes the inference path as an ONNX graph, `OnnxModel` runs one with ONNX Runtime.

    gifnet export gifnet.onnx                          # the default weights; --weights, --opset, --precision fp16
    gifnet fuse ir.png vis.png -o f.png --weights gifnet.onnx      # the same pipeline on ONNX Runtime

The graph: inputs `a`, `b` (N,1,H,W) float32 in [0, 1] (grey or luma, in the task's slot order), output `fused` of the
same shape in [0, 1]; N, H and W are dynamic, H and W from 8 (the model's minimum) up, any value (not only multiples
of 4 or 8). It is what `GIFNet.forward` computes: while exporting, model.py switches padding, window partition and
attention to a form made only of standard operators that the tracer can follow for every size (`model.exporting`);
`export` checks the written file with `onnx.checker` and against PyTorch before returning. `--precision fp16` computes
in float16 inside the graph; its inputs and output stay float32. The file carries metadata (`metadata_props`): the
gifnet version, the weights' name and sha256, the slot meanings, the value range and the minimum size.

`gifnet.load_model("x.onnx")` returns an `OnnxModel`; `fuse`, `enhance`, `fuse_multispectral`, the CLI (folders too)
and the demo use it through the same pipeline as a GIFNet (`gifnet.pipeline.run_network` hands it the two planes).
What it does not do: tile. ONNX Runtime runs the whole image at once, so an image whose estimated working memory
(`estimate`) exceeds the available memory is refused with a message, where the PyTorch backend would tile it.

Needs the `export` extra (onnx, onnxscript, onnxruntime); running an exported file needs only onnxruntime.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import GifnetError
from .files import PathLike, atomic_write

if TYPE_CHECKING:                       # for annotations only: onnx is an optional dependency
    import onnx as onnx_types

    from .model import GIFNet

log = logging.getLogger(__name__)

INSTALL = "pip install 'gifnet[export]'"
PRECISIONS = ("fp32", "fp16")
MIN_OPSET = 18            # torch's exporter writes opset 18 or newer (and onnx cannot convert this graph lower)
# Peak working memory of ONNX Runtime (CPU, fp32, whole image, no arena) in bytes per pixel: 8.9-9.8 KB measured at
# 0.3-1.3 MP (BENCHMARKS.md, "ONNX Runtime"), with a margin; plus the runtime and the weights.
ORT_BYTES_PER_PIXEL = 10_500
ORT_BYTES_FIXED = 150 << 20
# How far ONNX Runtime may be from PyTorch on the export's self-check (max abs difference on [0, 1] outputs).
CHECK_TOLERANCE = {"fp32": 1e-4, "fp16": 3e-2}


# ---------------------------------------------------------------------------------------------------------- export
def _require(*modules: str, what: str) -> None:
    missing = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise GifnetError(f"{what} needs {', '.join(missing)}; install the export extra with: {INSTALL}")


class _Float16(torch.nn.Module):
    """The network in float16 with float32 inputs and output (casts at the graph's edges)."""

    def __init__(self, model):
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, a, b):
        return self.model(a.half(), b.half()).float()


@contextlib.contextmanager
def _quiet():
    """The exporter's progress lines, warnings and optimiser notes are for PyTorch developers, not our users."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def metadata(model: GIFNet, *, weights: str, weights_sha256: str, precision: str) -> dict[str, str]:
    """The file's `metadata_props`: what a deployment needs to know without gifnet."""
    from . import __version__
    from .pipeline import TASKS

    slots = {name: f"{t.slot_a} | {t.slot_b}" for name, t in TASKS.items() if name != "auto"}
    return {
        "gifnet_version": __version__,
        "model": "GIFNet (CVPR 2025), inference path (MFIF-main mode)",
        "weights": weights,
        "weights_sha256": weights_sha256,
        "precision": precision,
        "inputs": "a, b: (N,1,H,W) float32, one grey or luma (Y) channel each, in [0, 1]",
        "output": "fused: (N,1,H,W) float32 in [0, 1], the fused luma",
        "value_range": "[0, 1]",
        "min_size": str(model.config.min_size),
        "slots": json.dumps(slots),
        "colour": "put the chroma back as gifnet.pipeline does: from one source (ivif, nir-vis: b; medical: a) or "
                  "both sources' chroma fused (mfif, meif)",
        "config": json.dumps(model.config.to_dict()),
    }


def to_onnx(model: GIFNet, *, opset: int | None = None, precision: str = "fp32") -> onnx_types.ModelProto:
    """The inference path of `model` (a GIFNet) as an `onnx.ModelProto` with dynamic N, H, W (H, W >= min_size)."""
    _require("onnx", "onnxscript", what="exporting to ONNX")
    if precision not in PRECISIONS:
        raise GifnetError(f"unknown precision {precision!r} for export; choose one of {', '.join(PRECISIONS)}",
                          param="precision")
    net = _Float16(model) if precision == "fp16" else model
    net = net.eval().cpu()
    n = model.config.min_size
    # traced at a batch of 2 and an odd size: a size of 1, or one already a multiple of the window, would be taken as
    # a constant of the graph
    example = tuple(torch.rand(2, 1, 4 * n + 5, 5 * n + 5, generator=torch.Generator().manual_seed(0))
                    for _ in range(2))
    size = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=n),
            3: torch.export.Dim("width", min=n)}
    try:
        # "size oblivious": decisions on a size that matter only when it is 1 (e.g. one row of windows, at H <= 8)
        # are made for the general case, whose operators are also right for 1; the self-check in `export` runs H = 8
        from torch.fx.experimental import _config as fx_config
        oblivious = fx_config.patch(backed_size_oblivious=True)
    except (ImportError, AttributeError):
        oblivious = contextlib.nullcontext()
    try:
        with torch.no_grad(), oblivious, _quiet():
            program = torch.onnx.export(net, example, dynamo=True, input_names=["a", "b"], output_names=["fused"],
                                        dynamic_shapes={"a": size, "b": size}, opset_version=opset,
                                        external_data=False, verbose=False)
    except Exception as e:          # the exporter's errors are long reports; keep their summary line
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise GifnetError(f"ONNX export failed{f' at opset {opset}' if opset else ''} ({type(e).__name__}: "
                          f"{(lines or [''])[-1][:200]}); try the default opset, or report it with --debug's "
                          "traceback") from None
    return program.model_proto


def export(out: PathLike, *, weights: PathLike | None = None, opset: int | None = None,
           precision: str = "fp32", overwrite: bool = False) -> Path:
    """Export the network with `weights` (any `gifnet.load_model` source; default weights if None) to the ONNX file
    `out`: trace, add metadata, `onnx.checker`, compare ONNX Runtime with PyTorch at two sizes, then write the file
    atomically (an existing file only with overwrite=True). Returns the path."""
    _require("onnx", "onnxscript", "onnxruntime", what="gifnet export")
    import onnx

    from .hub import load_model, sha256_of
    from .model import GIFNet

    out = Path(out)
    if precision not in PRECISIONS:
        raise GifnetError(f"unknown precision {precision!r} for export; choose one of {', '.join(PRECISIONS)}",
                          param="precision")
    if opset is not None and opset < MIN_OPSET:
        raise GifnetError(f"opset {opset}: gifnet export writes opset {MIN_OPSET} or newer; pass --opset {MIN_OPSET} "
                          "or leave it out", param="opset")
    if out.suffix.lower() != ".onnx":
        raise GifnetError(f"{out}: an ONNX model's name must end in .onnx (gifnet.load_model recognises it by that)")
    if out.exists() and not overwrite:
        raise GifnetError(f"{out}: already exists; choose another name or pass --overwrite")
    if out.parent and not out.parent.is_dir():
        raise GifnetError(f"{out.parent}: no such folder; create it first or choose another output path")
    model = load_model(weights)
    if not isinstance(model, GIFNet):
        raise GifnetError(f"{weights}: is already an ONNX model; export from PyTorch weights (.safetensors, a "
                          "folder, .model, 'official' or a Hub id)")
    name, file = weights_identity(weights)
    proto = to_onnx(model, opset=opset, precision=precision)
    if opset is not None and _opset(proto) != opset:
        raise GifnetError(f"opset {opset}: this PyTorch's exporter wrote opset {_opset(proto)} instead; leave --opset "
                          "out, or choose one it supports", param="opset")
    for key, value in metadata(model, weights=name, weights_sha256=sha256_of(file) if file else "unknown",
                               precision=precision).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.doc_string = "gifnet", (
        "GIFNet image fusion: fused = model(a, b); a, b, fused (N,1,H,W) float32 in [0, 1], H, W >= "
        f"{model.config.min_size}. Slots and colour handling: see metadata_props and https://arxiv.org/abs/2502.19854")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise GifnetError(f"the exported graph does not pass onnx.checker ({str(e).splitlines()[0][:200]}); please "
                          "report it") from None
    data = proto.SerializeToString()
    _self_check(data, model, precision)
    atomic_write(out, lambda tmp: tmp.write_bytes(data), overwrite=overwrite)
    log.info("wrote %s (%s, opset %s, %.1f MB, weights %s)", out, precision, _opset(proto), len(data) / 1e6, name)
    return out


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _self_check(data: bytes, model, precision: str) -> None:
    """ONNX Runtime on the serialised graph vs PyTorch, at the minimum size with a batch of 1 (one row of windows)
    and at an odd size with a batch of 3: a wrong graph is never written."""
    onnx_model = OnnxModel(data)
    gen = torch.Generator().manual_seed(1)
    n = model.config.min_size
    for shape in ((1, 1, n, n + 5), (3, 1, 3 * n + 3, 2 * n + 1)):
        a, b = torch.rand(*shape, generator=gen), torch.rand(*shape, generator=gen)
        with torch.no_grad():
            ref = model(a, b).numpy()
        got = onnx_model.session.run(None, {onnx_model.inputs[0]: a.numpy(), onnx_model.inputs[1]: b.numpy()})[0]
        diff = float(np.abs(got.astype(np.float32) - ref).max())
        if got.shape != ref.shape or not diff <= CHECK_TOLERANCE[precision]:
            raise GifnetError(f"the exported graph does not reproduce PyTorch at {tuple(shape)} (shape "
                              f"{got.shape}, max difference {diff:.2g}); please report it")


def weights_identity(source: PathLike | None) -> tuple[str, Path | None]:
    """(a name for the metadata, the weights file to hash) for a `load_model` source, without server paths."""
    from . import hub
    from .model import WEIGHTS_NAME

    source = source if source is not None else os.environ.get("GIFNET_WEIGHTS") or hub.DEFAULT_WEIGHTS
    text = os.fspath(source)
    path = Path(text).expanduser()
    if text == "official":
        return "official (the authors' Final.model)", hub.official_checkpoint()
    if path.is_dir():
        return path.name, path / WEIGHTS_NAME
    if path.is_file():
        return path.name, path
    try:                                  # a Hub id, already in the local cache since load_model just read it
        from huggingface_hub import hf_hub_download

        repo, _, revision = text.partition("@")
        return text, Path(hf_hub_download(repo, WEIGHTS_NAME, revision=revision or None,
                                          cache_dir=hub.hf_cache_dir(), local_files_only=True))
    except Exception:
        return text, None


# ------------------------------------------------------------------------------------------------ ONNX Runtime side
class OnnxModel:
    """A GIFNet graph (from `gifnet export`) on ONNX Runtime, accepted wherever the pipeline takes a model.
    `source`: a path to a .onnx file (or its bytes). device "cpu" uses the CPU execution provider; "cuda" the CUDA one
    when this onnxruntime has it. Graph optimisation is on (ORT_ENABLE_ALL)."""

    def __init__(self, source: PathLike | bytes, device: str = "cpu"):
        self.name = "<bytes>" if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise GifnetError(f"{source}: weights not found (no such ONNX file); write one with: gifnet export "
                              f"{Path(source).name}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise GifnetError(f"{self.name}: running an ONNX model needs onnxruntime; install it with: {INSTALL}") \
                from None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3                   # errors only (fp16 graphs make it chatty on CPUs)
        options.enable_cpu_mem_arena = False             # give each image's memory back (measured: no slower)
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda"):
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                log.warning("this onnxruntime has no CUDA execution provider; running %s on the CPU", self.name)
        try:
            self.session = ort.InferenceSession(os.fspath(source) if not isinstance(source, bytes) else source,
                                                options, providers=providers)
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GifnetError(f"{self.name}: not a readable ONNX model ({first[:160]}); export it again with: "
                              "gifnet export OUT.onnx") from None
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        one_channel = all(len(i.shape) == 4 and (i.shape[1] == 1 or not isinstance(i.shape[1], int)) for i in ins)
        if len(ins) != 2 or len(outs) != 1 or not one_channel:
            found = ", ".join(f"{i.name} {i.shape}" for i in ins)
            raise GifnetError(f"{self.name}: the graph has {len(ins)} input(s) ({found}) and {len(outs)} output(s); "
                              "a GIFNet graph has two inputs a, b (N,1,H,W) and one output, as `gifnet export` "
                              "writes it")
        self.inputs = [i.name for i in ins]
        self.input_dtype = np.float16 if ins[0].type == "tensor(float16)" else np.float32
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.min_size = int(self.metadata.get("min_size", 8))
        self.precision = self.metadata.get("precision", "fp32")
        self.providers = self.session.get_providers()

    def __repr__(self) -> str:
        return f"OnnxModel({self.name!r}, {self.precision}, {self.providers[0]})"

    def estimate(self, h: int, w: int) -> int:
        """Estimated peak working memory (bytes) of ONNX Runtime on one h x w image (see ORT_BYTES_PER_PIXEL)."""
        return ORT_BYTES_FIXED + ORT_BYTES_PER_PIXEL * h * w

    def run(self, a: np.ndarray, b: np.ndarray, precision: str = "fp32", tile=None) -> np.ndarray:
        """Two (H, W) float planes in [0, 1] (slot a, slot b) -> the (H, W) float32 fused plane, the whole image at
        once. `precision` and `tile` are the PyTorch backend's options: only their defaults are accepted."""
        from .pipeline import available_memory

        if precision != "fp32":
            raise GifnetError(f"precision {precision!r} is a PyTorch-backend option; {Path(self.name).name} runs in "
                              f"the precision it was exported with ({self.precision}); drop --precision, or export "
                              "again with --precision fp16", param="precision")
        if tile not in (None, "auto", "full"):
            raise GifnetError(f"tile {tile!r}: the ONNX backend runs whole images and cannot tile; leave --tile at "
                              "auto, or use PyTorch weights for tiled inference in bounded memory", param="tile")
        a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
        if a.ndim != 2 or a.shape != b.shape:
            raise GifnetError(f"inputs must be two (H, W) planes of one shape, got {a.shape} and {b.shape}")
        h, w = a.shape
        if min(h, w) < self.min_size:
            raise GifnetError(f"image is {w}x{h} pixels; GIFNet needs at least {self.min_size}x{self.min_size}; "
                              "upscale it first")
        need, avail = self.estimate(h, w), available_memory()
        if avail is not None and need > 0.9 * avail:
            raise GifnetError(f"a {w}x{h} image needs about {need / 2**30:.1f} GB with the ONNX backend, which runs "
                              f"whole images (no tiling), but only {avail / 2**30:.1f} GB is available; fuse it with "
                              "PyTorch weights (tiled, bounded memory: drop --weights for the default ones) or "
                              "downscale it")
        feed = {name: p[None, None].astype(self.input_dtype) for name, p in zip(self.inputs, (a, b))}
        try:
            out = self.session.run(None, feed)[0]
        except Exception as e:   # onnxruntime's own exception types (out of memory, a graph with fixed sizes, ...)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GifnetError(f"{Path(self.name).name}: ONNX Runtime failed on a {w}x{h} image ({first[:200]})") \
                from None
        return np.ascontiguousarray(out[0, 0], dtype=np.float32)
