"""Inference speed and memory on this machine: the table of BENCHMARKS.md, "Inference speed".

For every size x precision x mode a fresh Python process loads the model, measures this machine's matrix-multiply
rate (fp32 and bf16, same threads) right before, then runs `gifnet.pipeline.run_network` on the release's IVIF sample
resized to that size, and reports its own peak resident memory. Effective GFLOP/s counts the release's 1.5727 MFLOP per
pixel (our forward computes less: it skips what never reaches the output), so they compare directly with the
release's 26 GFLOP/s. Also: import + weight load time, bf16 PSNR against fp32, and folder throughput of `gifnet fuse`.
With --onnx, the same weights are exported (`gifnet.onnx.export`, fp32 and fp16) and ONNX Runtime rows (CPU execution
provider, graph optimisation on, the whole image at once) run through the same `run_network`, next to our engine's.

    python benchmarks/bench_inference.py                 # the table (about half an hour on 2 cores)
    python benchmarks/bench_inference.py --quick         # 256x256 and 640x480 only
    python benchmarks/bench_inference.py --huge          # also 6000x4000, tiled
    python benchmarks/bench_inference.py --sizes 6000x4000 --no-folders     # just that size
    python benchmarks/bench_inference.py --sizes 256x256,640x480,1280x1024 --no-folders --onnx    # + ONNX Runtime
Set GIFNET_SHARED if ../shared is elsewhere. Other processes on the machine distort timings: the load average seen
before and after each configuration is printed with it; run it on a quiet machine and repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("GIFNET_SHARED", REPO.parent / "shared"))
WEIGHTS = SHARED / "checkpoints/official/Final.model"
MFLOP_PER_PIXEL = 1.5727          # the release's inference cost per pixel, as counted on its code (../shared/REFERENCE.md)
SIZES = [(256, 256), (480, 640), (1024, 1280), (2160, 3840)]
HUGE = (4000, 6000)


# ------------------------------------------------------------------------------------------- inside a fresh process
def matmul_rates(n: int = 2048, reps: int = 5) -> dict[str, float]:
    """GFLOP/s of an n x n matrix product in fp32 and bf16 (median of `reps`), with the process's thread settings."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
        out[name] = 2 * n ** 3 / statistics.median(times) / 1e9
    return out


def pair(h: int, w: int):
    """The release's IVIF sample (infrared, visible luma) resized to h x w: realistic content at any size."""
    import numpy as np
    from PIL import Image

    from gifnet.image import luma, read_image

    planes = []
    for name in ("ir", "vis"):
        img = Image.open(SHARED / "samples/IVIF" / name / "1.jpg").convert("RGB").resize((w, h), Image.BICUBIC)
        planes.append(luma(read_image(np.asarray(img))[0]))
    return planes


def worker(cfg: dict) -> dict:
    import resource

    import numpy as np
    import torch

    from gifnet.hub import load_model
    from gifnet.pipeline import check_memory, run_network

    rates = matmul_rates()
    onnx = cfg.get("onnx")       # {"fp32": path, "fp16": path} for ONNX Runtime rows
    model = load_model(onnx[cfg["precision"]] if onnx else str(WEIGHTS))
    a, b = pair(cfg["h"], cfg["w"])
    plan = None if onnx else check_memory(cfg["h"], cfg["w"], precision=cfg["precision"], tile=cfg["tile"])
    precision = "fp32" if onnx else cfg["precision"]      # an ONNX graph has its own precision
    times, y = [], None
    for _ in range(cfg["repeats"]):
        t = time.perf_counter()
        y = run_network(model, a, b, precision=precision, tile=cfg["tile"])
        times.append(time.perf_counter() - t)
    result = {"first_s": times[0], "s": statistics.median(times[1:] if len(times) > 1 else times),
              "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "matmul": rates,
              "tile": plan.tile if plan else max(cfg["h"], cfg["w"]), "keep": list(plan.keep) if plan else [],
              "threads": torch.get_num_threads()}
    if cfg.get("psnr"):          # bf16 or fp16 against fp32 of the same backend on the same input
        ref = run_network(load_model(onnx["fp32"]) if onnx else model, a, b, precision="fp32", tile=cfg["tile"])
        result["psnr_db"] = float(10 * np.log10(1 / np.mean((y.astype(np.float64) - ref) ** 2)))
    return result


# ------------------------------------------------------------------------------------------------------ the driver
def run_worker(cfg: dict, timeout: float = 3600) -> dict:
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--worker", json.dumps(cfg)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["load"] = (load_before, os.getloadavg()[0])
    return out


def import_and_load_seconds(reps: int = 3) -> float:
    code = ("import time; t = time.perf_counter(); import gifnet; gifnet.load_model(%r); "
            "print(time.perf_counter() - t)" % str(WEIGHTS))
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                                  check=True).stdout) for _ in range(reps)]
    return statistics.median(times)


def folder_throughput(precision: str, n: int = 8) -> dict:
    """`gifnet fuse ir/ vis/ -o out/` on the first n TNO pairs (256x256 to 945x709), wall time of the whole command."""
    from PIL import Image

    src = SHARED / "datasets/eval/tno"
    names = sorted(p.name for p in (src / "ir").iterdir())[:n]
    pixels = sum(Image.open(src / "ir" / name).size[0] * Image.open(src / "ir" / name).size[1] for name in names)
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("ir", "vis"):
            (Path(tmp) / sub).mkdir()
            for name in names:
                os.symlink(src / sub / name, Path(tmp) / sub / name)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gifnet", "fuse", f"{tmp}/ir", f"{tmp}/vis", "-o", f"{tmp}/out",
                        "--task", "ivif", "--weights", str(WEIGHTS), "--precision", precision], cwd=REPO, check=True,
                       capture_output=True)
        seconds = time.perf_counter() - t
    return {"pairs": n, "seconds": seconds, "pairs_per_s": n / seconds, "mp_per_s": pixels / seconds / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 and 640x480 only")
    parser.add_argument("--huge", action="store_true", help="also 6000x4000 (tiled)")
    parser.add_argument("--sizes", help="only these sizes, WxH comma-separated (e.g. 6000x4000)")
    parser.add_argument("--no-folders", action="store_true", help="skip the folder throughput runs")
    parser.add_argument("--onnx", action="store_true", help="also ONNX Runtime rows (fp32, fp16) of the same weights")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration (the first is reported apart)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    from gifnet.pipeline import available_memory
    from gifnet.tiling import estimate

    sizes = SIZES[:2] if args.quick else SIZES + ([HUGE] if args.huge else [])
    if args.sizes:
        sizes = [tuple(int(v) for v in s.split("x"))[::-1] for s in args.sizes.split(",")]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f}")
    results = {"import_and_load_s": import_and_load_seconds(), "rows": [], "folders": {}}
    print(f"import gifnet + load weights: {results['import_and_load_s']:.2f} s")
    print("| size | precision | mode | tiles (kept) | first s | s | eff. GFLOP/s | x fp32 matmul | "
          "matmul fp32 / bf16 | peak RSS GB | PSNR vs fp32 | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    onnx = export_onnx(Path(tempfile.mkdtemp(prefix="gifnet-bench-"))) if args.onnx else None
    for h, w in sizes:
        for precision in ("fp32", "bf16"):
            for mode, tile in (("full frame", "full"), ("tiled", "auto")):
                need = estimate(h, w, precision, max(h, w) + 8, ())
                row = {"h": h, "w": w, "precision": precision, "mode": mode}
                if mode == "full frame" and need > 0.5 * (available_memory() or 0):
                    row["error"] = f"needs ~{need / 1e9:.0f} GB"
                elif mode == "full frame" and h * w >= HUGE[0] * HUGE[1]:
                    row["error"] = "skipped"
                else:
                    reps = 1 if h * w > 4e6 else args.repeats
                    cfg = {"h": h, "w": w, "precision": precision, "tile": tile, "repeats": reps,
                           "psnr": precision == "bf16" and h * w <= 1.4e6}
                    row.update(run_worker(cfg))
                results["rows"].append(row)
                print(format_row(row), flush=True)
        for precision in ("fp32", "fp16") if onnx else ():
            row = {"h": h, "w": w, "precision": precision, "mode": "ONNX Runtime"}
            row.update(run_worker({"h": h, "w": w, "precision": precision, "tile": None, "onnx": onnx,
                                   "repeats": args.repeats, "psnr": precision == "fp16"}))
            results["rows"].append(row)
            print(format_row(row), flush=True)
    for precision in () if args.no_folders else ("fp32", "bf16"):
        f = results["folders"][precision] = folder_throughput(precision)
        print(f"folder, {precision}: {f['pairs']} TNO pairs in {f['seconds']:.1f} s (whole command) = "
              f"{f['pairs_per_s']:.2f} pairs/s, {f['mp_per_s']:.3f} MP/s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def export_onnx(folder: Path) -> dict[str, str]:
    """The benchmark's weights as ONNX graphs, fp32 and fp16 (gifnet.onnx.export, with its checks)."""
    from gifnet.onnx import export

    paths = {}
    for precision in ("fp32", "fp16"):
        t = time.perf_counter()
        paths[precision] = str(export(folder / f"gifnet-{precision}.onnx", weights=str(WEIGHTS), precision=precision))
        print(f"export {precision}: {time.perf_counter() - t:.1f} s", flush=True)
    return paths


def format_row(r: dict) -> str:
    size = f"{r['w']}x{r['h']}"
    if "error" in r:
        return f"| {size} | {r['precision']} | {r['mode']} | — | — | — | — | — | — | — | — | {r['error']} |"
    eff = r["h"] * r["w"] * MFLOP_PER_PIXEL / 1e3 / r["s"]
    mm = r["matmul"]
    tiles = "one" if r["tile"] >= max(r["h"], r["w"]) else f"{r['tile']} ({'+'.join(r['keep']) or 'none'})"
    tiles = "whole image" if r["mode"] == "ONNX Runtime" else tiles
    psnr = f"{r['psnr_db']:.1f} dB" if "psnr_db" in r else ""
    return (f"| {size} | {r['precision']} | {r['mode']} | {tiles} | {r['first_s']:.2f} | {r['s']:.2f} | {eff:.0f} | "
            f"{eff / mm['fp32']:.2f} | {mm['fp32']:.0f} / {mm['bf16']:.0f} | {r['rss_gb']:.2f} | {psnr} | "
            f"{r['load'][0]:.1f}→{r['load'][1]:.1f} |")


if __name__ == "__main__":
    main()
