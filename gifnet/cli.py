"""The `gifnet` command line. Each subcommand is an `_add_<name>(subparsers)` function plus its handler; every input
problem ends as one line `gifnet: error: ...` on stderr and a non-zero exit, never a traceback."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from .errors import GifnetError, Interrupted

log = logging.getLogger("gifnet")

EXAMPLES = """examples:
  gifnet fuse ir.png vis.jpg -o fused.png --task ivif          infrared + visible (colour from the visible)
  gifnet fuse near.jpg far.jpg -o fused.png --task mfif        multi-focus
  gifnet fuse pet.png mri.png -o fused.png --task medical      PET/SPECT + MRI (colour from PET/SPECT)
  gifnet fuse ir/ vis/ -o fused/ --task ivif                   two folders, files paired by name
  gifnet enhance dark.jpg -o enhanced.png                      single-image enhancement
  gifnet fuse-ms ms.tif pan.tif -o sharpened.tif               every band of a multispectral image + PAN
  gifnet fuse ir.tif vis.tif -o f.tif --precision bf16         ~2x faster on CPUs with AMX/AVX512-BF16 (any size)
  gifnet demo                                                  the web demo on http://127.0.0.1:7860
  gifnet export gifnet.onnx                                    the network as an ONNX graph (for ONNX Runtime)
weights: --weights takes a .model/.safetensors file, a save_pretrained folder, 'official', a Hub id org/name@rev or
an exported .onnx file (run by ONNX Runtime); the default is $GIFNET_WEIGHTS if set, else the bundled weights."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output file (or folder when the inputs are folders)")
    p.add_argument("--weights", default=None, help="weights source (default: $GIFNET_WEIGHTS or the bundled weights)")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument("--skip-existing", action="store_true",
                   help="leave existing output files as they are and do only the missing ones (continue an interrupted "
                        "folder run)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="fp32 (default, matches the reference) or bf16 (faster on CPUs with AMX/AVX512-BF16)")
    p.add_argument("--tile", default="auto", type=_tile, metavar="auto|full|N",
                   help="tile side in pixels; auto (default) picks it from the available memory, full runs the whole "
                        "image at once. Any tiling gives the same result as full (exact halos and statistics)")


def _tile(text: str):
    if text in ("auto", "full"):
        return text
    if text.isdigit() and int(text) >= 8:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected auto, full or a side of at least 8 pixels, got {text!r}")


def _net_options(args) -> dict:
    return {"precision": args.precision, "tile": args.tile}


# ------------------------------------------------------------------------------------------------------------ fuse
def _add_fuse(sub) -> None:
    from .pipeline import TASKS

    p = sub.add_parser("fuse", help="fuse two images (or two folders of images paired by name)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="first source: image or folder (infrared, near focus, over-exposed, PET/SPECT, NIR, band)")
    p.add_argument("b", help="second source: image or folder (visible, far focus, under-exposed, MRI, visible, PAN)")
    p.add_argument("--task", default="auto", choices=list(TASKS), help="fusion task: sets colour handling (default auto)")
    p.add_argument("--resize", action="store_true", help="resample the second image to the first's size if they differ")
    _common(p)
    p.set_defaults(handler=_run_fuse)


def _run_fuse(args) -> int:
    from .image import write_image
    from .pipeline import fuse

    a, b, out = Path(args.a), Path(args.b), Path(args.output)
    if a.is_dir() or b.is_dir():
        if not (a.is_dir() and b.is_dir()):
            raise GifnetError(f"{a if not a.is_dir() else b}: mix of a folder and a file; give two folders or two files")
        return _run_folders(a, b, out, args, lambda x, y, m: fuse(x, y, task=args.task, model=m, resize=args.resize,
                                                                      **_net_options(args)))
    if _skip(out, args):
        return 0
    model = _load(args.weights)
    write_image(fuse(a, b, task=args.task, model=model, resize=args.resize, **_net_options(args)), out,
                overwrite=args.overwrite)
    log.info("wrote %s", out)
    return 0


def _run_folders(dir_a: Path, dir_b: Path, out: Path, args, fuse_one) -> int:
    from tqdm import tqdm

    from .image import pair_folders, write_image

    if out.exists() and not out.is_dir():
        raise GifnetError(f"{out}: exists and is a file; with two input folders -o must be a folder")
    pairs, unpaired = pair_folders(dir_a, dir_b)
    targets = [out / f"{pa.stem}.png" for pa, _ in pairs]
    clashes = [t for t in targets if t.exists()]
    if clashes and not (args.overwrite or args.skip_existing):
        raise GifnetError(f"{len(clashes)} output file(s) already exist in {out} (e.g. {clashes[0].name}); pass "
                          "--skip-existing to do only the missing ones, --overwrite to redo all, or choose another folder")
    if args.skip_existing:
        todo = [(pair, t) for pair, t in zip(pairs, targets) if not t.exists()]
        pairs, targets = [p for p, _ in todo], [t for _, t in todo]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GifnetError(f"{out}: cannot create the output folder ({e.strerror})") from None
    for f in unpaired:
        log.warning("unpaired, skipped: %s", f)
    skipped = len(clashes) if args.skip_existing else 0
    model = _load(args.weights)
    failed, done = [], 0
    try:
        for (pa, pb), target in zip(tqdm(pairs, desc="fusing", unit="pair"), targets):
            try:
                write_image(fuse_one(pa, pb, model), target, overwrite=args.overwrite)
                done += 1
            except GifnetError as e:
                failed.append(pa.stem)
                tqdm.write(f"gifnet: skipped {pa.stem}: {e}")
    except KeyboardInterrupt:
        log.info("stopped after %d of %d pairs; the files in %s are complete; rerun with --skip-existing to do the "
                 "rest", done, len(pairs), out)
        raise
    log.info("fused %d of %d pairs into %s; %d failed; %d unpaired%s", done, len(pairs) + skipped, out, len(failed),
             len(unpaired), f"; {skipped} skipped (output exists)" if skipped else "")
    return 1 if failed else 0


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise GifnetError(f"{out}: already exists; choose another name or pass --overwrite")


def _skip(out: Path, args) -> bool:
    """One output file: True (skip) if it exists and --skip-existing was given; refuse it without --overwrite."""
    if args.skip_existing and out.exists():
        log.info("%s exists, skipped (--skip-existing)", out)
        return True
    _refuse_existing(out, args.overwrite)
    return False


def _load(weights: str | None):
    from .hub import load_model

    return load_model(weights)


# --------------------------------------------------------------------------------------------------------- enhance
def _add_enhance(sub) -> None:
    p = sub.add_parser("enhance", help="enhance a single image (or every image of a folder)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="image or folder")
    _common(p)
    p.set_defaults(handler=_run_enhance)


def _run_enhance(args) -> int:
    from .image import write_image
    from .pipeline import enhance

    src, out = Path(args.image), Path(args.output)
    if src.is_dir():
        return _run_folders(src, src, out, args, lambda x, _, m: enhance(x, model=m, **_net_options(args)))
    if _skip(out, args):
        return 0
    write_image(enhance(src, model=_load(args.weights), **_net_options(args)), out, overwrite=args.overwrite)
    log.info("wrote %s", out)
    return 0


# --------------------------------------------------------------------------------------------------------- fuse-ms
def _add_fuse_ms(sub) -> None:
    p = sub.add_parser("fuse-ms", help="pansharpen: fuse every band of a multispectral image with a panchromatic one",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="MS", help="a multi-band TIFF or several single-band images, then PAN")
    p.add_argument("--resize", action="store_true", help="upsample the bands to PAN's size if they differ")
    _common(p)
    p.set_defaults(handler=_run_fuse_ms)


def _run_fuse_ms(args) -> int:
    from .image import write_image
    from .pipeline import fuse_multispectral

    if len(args.inputs) < 2:
        raise GifnetError("fuse-ms needs the multispectral image (or its bands) and then the PAN image")
    *ms, pan = args.inputs
    out = Path(args.output)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise GifnetError(f"{out}: multi-band results are written as TIFF; use a .tif output name")
    if _skip(out, args):
        return 0
    result = fuse_multispectral(ms if len(ms) > 1 else ms[0], pan, model=_load(args.weights), resize=args.resize,
                                **_net_options(args))
    write_image(result, out, overwrite=args.overwrite)
    log.info("wrote %s (%d bands)", out, result.shape[2])
    return 0


# -------------------------------------------------------------------------------------------------------- evaluate
EVALUATE_EXAMPLES = """examples:
  gifnet evaluate --a ir/ --b vis/ --fused ours/ --fused theirs/ -o report/     score existing results
  gifnet evaluate --a ir/ --b vis/ --task ivif --weights official --weights mine.safetensors -o report/
  gifnet evaluate --a ir/ --b vis/ --fused all/ --pattern "{name}_ADF" --fused all/ --pattern "{name}_CBF" \\
      --name ADF --name CBF --metrics qabf,ssim,mi                             one folder, names with suffixes
writes report/scores.csv (per image), report/summary.md (mean ± std, best in bold) and report/metrics.png."""


def _add_evaluate(sub) -> None:
    from .metrics import CONVENTIONS, METRICS

    epilog = (EVALUATE_EXAMPLES + "\nmetrics: " + ", ".join(METRICS) + " (default: all).\n"
              "conventions (--convention; default vifb; see gifnet.metrics):\n"
              + "".join(f"  {c:<10} {d}\n" for c, d in CONVENTIONS.items())
              + "a paper's numbers compare with ours only under the convention the paper used: numbers from Tang's "
                "Metric_TNO.xlsx\nor his toolbox before March 2023 need tang2022 (gifnet evaluate --a ir/ --b vi/ "
                "--fused ours/ --convention tang2022),\nhis toolbox since then tang.")
    p = sub.add_parser("evaluate", help=f"score fused results (or models) with {len(METRICS)} fusion metrics: CSV, "
                                        "Markdown, plot",
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, metavar="DIR", help="first sources (e.g. infrared), one image per pair")
    p.add_argument("--b", required=True, metavar="DIR", help="second sources (e.g. visible), same file names")
    p.add_argument("--fused", action="append", metavar="DIR", help="a folder of results to score (repeatable)")
    p.add_argument("--name", action="append", metavar="NAME", help="display name per --fused folder (repeatable)")
    p.add_argument("--pattern", action="append", metavar="P",
                   help="result file name without extension for pair {name} (default '{name}'); one for all "
                        "--fused folders or one per folder")
    p.add_argument("--weights", action="append", metavar="W",
                   help="fuse with this model and score it (repeatable): 'official', a file, a folder or a Hub id")
    p.add_argument("--task", default="auto", help="fusion task for --weights (ivif, mfif, meif, medical, ...)")
    p.add_argument("--save-fused", metavar="DIR", help="with --weights: also keep the results in DIR/<model>/")
    p.add_argument("--metrics", help="comma-separated metric names (default: all)")
    p.add_argument("--convention", default="vifb", choices=list(CONVENTIONS),
                   help="metric conventions: vifb (default), paper, tang2022 or tang (see below)")
    p.add_argument("-o", "--output", default="evaluation", help="report folder (default ./evaluation)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report in --output")
    p.set_defaults(handler=_run_evaluate, parser=p)


def _run_evaluate(args) -> int:
    from .evaluate import REPORT_FILES, report, summary_markdown

    if bool(args.fused) == bool(args.weights):
        raise GifnetError("give either --fused DIR (score existing results) or --weights W (fuse, then score)")
    if (args.name or args.pattern) and not args.fused:
        raise GifnetError("--name and --pattern describe --fused folders; they do not apply to --weights")
    scores = report(args.a, args.b, fused=args.fused or (), names=args.name, patterns=args.pattern or "{name}",
                    weights=args.weights or (), task=args.task, metrics=args.metrics, convention=args.convention,
                    save_fused=args.save_fused, out=args.output, overwrite=args.overwrite)
    print(summary_markdown(scores))
    log.info("wrote %s", ", ".join(str(Path(args.output) / f) for f in REPORT_FILES))
    return 0


# ------------------------------------------------------------------------------------------------------------ demo
def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="start the web demo (Gradio) in your browser",
                       description="Serve the GIFNet demo: fuse, enhance and pansharpen in the browser, plus the "
                       "/fuse and /enhance API for gradio_client. Needs: pip install 'gifnet[demo]'.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to serve your network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    p.add_argument("--weights", default=None, help="weights source (default: $GIFNET_WEIGHTS or the bundled weights)")
    p.set_defaults(handler=_run_demo)


def _run_demo(args) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise GifnetError("the demo needs Gradio; install it with: pip install 'gifnet[demo]'") from None
    from .demo import launch

    log.info("starting the demo on http://%s:%d (Ctrl+C to stop)", args.host, args.port)
    launch(args.host, args.port, args.share, weights=args.weights)
    return 0


# ---------------------------------------------------------------------------------------------------------- export
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export the network as an ONNX graph (run it with ONNX Runtime)",
                       description="Write the inference path as an ONNX file: inputs a, b (N,1,H,W) float32 in [0,1], "
                       "output fused of the same shape; N, H, W dynamic (H, W >= 8). Checked with onnx.checker and "
                       "against PyTorch before it is written. Use it with --weights OUT.onnx or any ONNX Runtime. "
                       "Needs: pip install 'gifnet[export]'.")
    p.add_argument("output", metavar="OUT.onnx", nargs="?", help="the ONNX file to write (or -o OUT.onnx)")
    p.add_argument("-o", "--output", dest="output_option", metavar="OUT.onnx",
                   help="the ONNX file to write, as -o in the other commands")
    p.add_argument("--weights", default=None, help="weights source (default: $GIFNET_WEIGHTS or the bundled weights)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: the exporter's, 18 or newer)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"],
                   help="fp32 (default, matches PyTorch) or fp16 (float16 inside, float32 inputs and output)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    from .onnx import export

    given = [o for o in (args.output, args.output_option) if o]
    if len(given) != 1:
        raise GifnetError("gifnet export needs one output file: gifnet export OUT.onnx (or -o OUT.onnx)" if not given
                          else f"gifnet export: two output files given ({given[0]}, {given[1]}); give one")
    out = export(given[0], weights=args.weights, opset=args.opset, precision=args.precision,
                 overwrite=args.overwrite)
    log.info("use it with: gifnet fuse A B -o fused.png --weights %s", out)
    return 0


# ----------------------------------------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    from .trainer import TrainConfig

    p = sub.add_parser("train", help="train GIFNet (or fine-tune it) on a folder of infrared/visible pairs",
                       description="Train GIFNet with the release's two-step recipe. Multi-focus pairs are synthesised "
                                   "from the visible images. Options left out keep the defaults (with --resume, the "
                                   "run's own settings).")
    d = TrainConfig()
    p.add_argument("--data", help="folder with ir/ and vis/ sub-folders (matching file names); with --resume, only "
                                  "to give the run's training folder a new location")
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
    p.add_argument("--dark", type=float, metavar="P",
                   help="share of samples whose two crops get black regions (both sources black there, as in medical "
                        "and night images; RoadScene has none); default 0, the release's data")
    p.add_argument("--restore", type=float, metavar="P",
                   help="share of multi-focus samples whose two inputs are also mildly blurred and flattened "
                        "everywhere, so the network learns to restore detail and contrast (gifnet.data.degrade); "
                        "default 0, the release's data")
    for name, what in (("blur", "Gaussian blur sigma in pixels (default 0.5 1.5)"),
                       ("mix", "share of the blurred image mixed into the input, a partial blur (default 1 1: all)"),
                       ("contrast", "contrast kept (default 0.7 1.0)"),
                       ("noise", "noise std in grey levels / 255 (default 0 0: none)"),
                       ("grain", "blur sigma of the noise in pixels, grainy noise of the same std (default 0 0: "
                                 "white)"),
                       ("gamma", "gamma applied to the inputs, above 1 darkens (default 1 1: none)"),
                       ("gain", "gain applied to the inputs, below 1 darkens (default 1 1: none)"),
                       ("exposure", "exposure difference in stops, one input brighter and one darker (default 0 0: "
                                    "none)"),
                       ("knee", "slope kept above --restore-knee-level, highlights compressed (default 1 1: none)")):
        p.add_argument(f"--restore-{name}", type=float, nargs=2, metavar=("LOW", "HIGH"),
                       help=f"--restore's range of the {what}; gifnet.data.RestoreConfig")
    p.add_argument("--restore-exposure-share", type=float, metavar="P", dest="restore_exposed",
                   help="share of the degraded samples that --restore-exposure exposes apart (default 1: all)")
    p.add_argument("--restore-knee-level", type=float, metavar="T",
                   help="grey level (/ 255) above which --restore-knee compresses the highlights (default 0.5)")
    p.add_argument("--restore-contrast-scale", type=float, metavar="SIGMA",
                   help="flatten only the Gaussian base of this sigma in pixels (large structures), the finer detail "
                        "kept; default 0: --restore-contrast flattens the whole image")
    p.add_argument("--restore-edges", type=float, metavar="G",
                   help="blur edges and hardly the flat regions: the share of --restore's blur is d / (d + G) at a "
                        "local gradient d (grey levels / 255 per pixel; e.g. 0.016, about 4 grey levels); default 0: "
                        "the same blur everywhere")
    for flag, kind, what in (("grid", int, "side of the in-focus map's noise grid, more is more blobs (default 2 6)"),
                             ("coverage", float, "in-focus share of the near image (default 0.3 0.7)"),
                             ("disk", float, "defocus disk radius in pixels (default 1.5 5)"),
                             ("sigma", float, "Gaussian defocus sigma in pixels (default 1 3)")):
        p.add_argument(f"--focus-{flag}", type=kind, nargs=2, metavar=("LOW", "HIGH"),
                       help=f"multi-focus synthesis: the range of the {what}; gifnet.data.FocusConfig")
    p.add_argument("--focus-disk-share", type=float, metavar="P", dest="focus_disk_share",
                   help="multi-focus synthesis: share of defocus kernels that are disks, the rest Gaussians "
                        "(default 0.5)")
    p.add_argument("--ivif-weight", type=float, dest="ivif_weight", metavar="W",
                   help="multiply the IVIF step's loss by W, the balance of the two steps (default 1: the release)")
    p.add_argument("--mfif-ssim", type=float, dest="mfif_ssim", metavar="W",
                   help="add W * (1 - SSIM(fused, target)) to the MFIF step's fusion loss, which is MSE alone in the "
                        "release: local contrast lost or amplified costs as much in flat regions as at edges "
                        "(default 0: off)")
    p.add_argument("--anchor", metavar="WEIGHTS",
                   help="the MFIF step also fuses each IVIF pair through the inference path and matches these "
                        "weights' fusion of it (e.g. weights from before --restore): restore multi-focus inputs, leave "
                        "infrared-visible pairs as they were; default: off, the release's objective")
    p.add_argument("--anchor-weight", type=float, dest="anchor_weight", metavar="W",
                   help="the --anchor term's weight in the MFIF step's loss (default 1)")
    p.add_argument("--weights", choices=("gradient", "densenet"),
                   help="information weights: weight-free gradient energy (default), or DenseNet-121 features as the "
                        "release (downloads timm/densenet121.tv_in1k once)")
    p.add_argument("--per-sample-weights", dest="per_sample_weights", action="store_const", const=True,
                   help="one weight pair per sample, not per batch")
    p.add_argument("--info-temperature", type=float, dest="info_temperature", metavar="T",
                   help="the information weights' softmax temperature: higher weighs the two sources more evenly "
                        "(default: 2 for gradient, whose weights are then the sources' RMS detail in proportion; 1 "
                        "for densenet, the release's)")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights: a save_pretrained folder, .safetensors, the authors' .model, "
                        "'official' or a Hub id (see gifnet.hub.load_model)")
    p.add_argument("--gate-init", type=float, nargs=2, dest="gate_init", metavar=("IVIF", "MFIF"),
                   help="set the two task-interaction gates (x_ivif += IVIF * x_mfif in the IVIF step, x_mfif += "
                        "MFIF * x_ivif at inference) before training, after --init, e.g. 0.2 0.1: ours start at 0 "
                        "and stay almost shut, the release's start non-zero; default: as initialised or loaded")
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
    p.add_argument("--val-images", type=int, dest="val_images",
                   help=f"pairs validated per group (default {d.val_images})")
    p.add_argument("--val-crop", type=int, dest="val_crop", help=f"validation centre crop (default {d.val_crop})")
    p.add_argument("--time-limit", type=float, dest="time_limit", metavar="MIN",
                   help="stop after MIN minutes of this session (checkpoint + weights written; --resume continues)")
    p.set_defaults(handler=_run_train, parser=p)


FOCUS_FLAGS = {"grid": "focus_grid", "coverage": "focus_coverage", "disk_radius": "focus_disk",   # FocusConfig field:
               "gaussian_sigma": "focus_sigma", "p_disk": "focus_disk_share"}                # its --focus-* option


def _run_train(args) -> int:
    """`gifnet train`: Ctrl-C, SIGTERM and SIGHUP write a checkpoint before the command exits (see `main`)."""
    import dataclasses

    from .data import FocusConfig, RestoreConfig
    from .trainer import TrainConfig, Trainer

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for name in ("freeze", "gate_init"):
        if name in given:
            given[name] = tuple(given[name])
    degradation = {f.name: getattr(args, f"restore_{f.name}") for f in dataclasses.fields(RestoreConfig)
                   if getattr(args, f"restore_{f.name}") is not None}          # --restore-<field>, given ones only
    focus = {name: getattr(args, flag) for name, flag in FOCUS_FLAGS.items() if getattr(args, flag) is not None}
    for name, fields_given, kind in (("degradation", degradation, RestoreConfig), ("multifocus", focus, FocusConfig)):
        if fields_given:       # a resumed run compares the given fields with its own; a new one fills in the rest
            fields_given = {k: tuple(v) if isinstance(v, list) else v for k, v in fields_given.items()}
            given[name] = fields_given if args.resume else kind(**fields_given)
    if args.resume:
        trainer = Trainer.resume(given.pop("out"), **given)
    else:
        trainer = Trainer(TrainConfig(**given))
    try:
        out = trainer.fit()
    finally:
        trainer.dist.close()
    if trainer.dist.main:
        log.info("done: load the weights with gifnet.load_model(%r) or --weights %s", str(out), out)
    return 0


# ------------------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="gifnet", description="GIFNet image fusion (CVPR 2025) from the command line",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gifnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_fuse, _add_enhance, _add_fuse_ms, _add_evaluate, _add_demo, _add_export, _add_train):
        add(sub)
    return parser


def _setup_logging() -> None:
    """Library messages (logger "gifnet.*") as `gifnet: ...` lines on the current stderr, INFO and up."""
    for h in [h for h in log.handlers if getattr(h, "gifnet_cli", False)]:
        log.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.gifnet_cli = True
    handler.setFormatter(logging.Formatter("gifnet: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


def _trap_signals() -> dict:
    """SIGTERM (timeout, schedulers, container stops) and SIGHUP (a closed terminal) unwind like Ctrl-C: they raise
    `Interrupted` in the main thread, so temp files are removed and checkpoints written. Returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}


def _flag(parser: argparse.ArgumentParser | None, param: str | None) -> str | None:
    """The command-line option of a library parameter named by a GifnetError (e.g. crop -> --crop), if it has one."""
    if parser is None or param is None:
        return None
    for action in parser._actions:
        if action.dest == param and action.option_strings:
            return max(action.option_strings, key=len)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    previous = _trap_signals()
    try:
        return args.handler(args)
    except GifnetError as e:
        if args.debug:
            raise
        flag = _flag(getattr(args, "parser", None), e.param)
        print(f"gifnet: error: {flag + ': ' if flag else ''}{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"gifnet: {how}", file=sys.stderr)
        return 128 + signum
    except MemoryError:
        print("gifnet: error: out of memory; use a smaller image", file=sys.stderr)
        return 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
