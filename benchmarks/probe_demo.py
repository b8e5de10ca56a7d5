"""The hardening probe of issue 12, re-runnable: BENCHMARKS.md, "Reliability".

Serves `gifnet demo` (the bundled default weights, as `make demo` does) in a child process with its own temp folders,
watches its resident memory (VmRSS, sampled every 50 ms), and drives it with gradio_client:
    bombs   crafted files (made here, never stored): a 20000x20000 RGB PNG and a 25000x25000 grey PNG of compressed
            zeros, a 20000x20000 tiled TIFF, a JPEG whose header claims 20000x15000, and a pair of bombs; then a
            legitimate 5400x4000 JPEG pair (just under the demo's cap); each sent with /fuse: the answer, its
            latency, the peak memory while it ran and the memory after it
    burst   N concurrent /fuse requests (own clients, distinct 256x192 images): answered, latencies, peak memory
    disk    files and bytes left in the demo's temp folders (Gradio's cache and the system temp dir) after the burst
Then the command line, in fresh processes:
    sigterm a folder run stopped by SIGTERM inside its second write (the write is slowed by a hook): exit code,
            message, files left beside the outputs (stray temp files, partial outputs)
    resume  the same run again with --skip-existing
    umask   the permissions of an output written under umask 022

    python benchmarks/probe_demo.py                       # this checkout (about 2 minutes on 2 busy cores)
    python benchmarks/probe_demo.py --source OLD_CHECKOUT --skip pair     # another checkout of gifnet
Prints the machine, date and load, then one JSON object (--json FILE also writes it). Linux only (/proc).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))          # the bomb makers the tests use

import numpy as np  # noqa: E402
from bombs import jpeg_bomb, png_bomb, tiff_bomb  # noqa: E402
from PIL import Image  # noqa: E402

MB = 2**20


def machine() -> dict:
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                     platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "load": os.getloadavg(), "python": platform.python_version()}


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024


class Watch(threading.Thread):
    """Samples a process's VmRSS every 50 ms; `peak_since(t)` is the highest sample taken after time t."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], False

    def run(self):
        while not self.stop:
            try:
                self.samples.append((time.monotonic(), rss(self.pid)))
            except (OSError, StopIteration):
                return
            time.sleep(0.05)

    def peak_since(self, t: float) -> int:
        return max((r for s, r in self.samples if s >= t), default=0)


def usage(*folders: Path) -> tuple[int, int]:
    sizes = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                try:
                    sizes.append(os.lstat(os.path.join(root, name)).st_size)
                except FileNotFoundError:
                    pass
    return len(sizes), sum(sizes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo(path: Path, seed: int, grey: bool, size: tuple[int, int] = (256, 192)) -> Path:
    """A smooth random image, 256x192 by default (compresses like a photo, unlike noise)."""
    rng = np.random.default_rng(seed)
    small = rng.random((12, 16) if grey else (12, 16, 3))
    img = Image.fromarray((small * 255).astype(np.uint8)).resize(size, Image.BICUBIC)
    img.save(path)
    return path


def probe_demo(source: Path, work: Path, burst: int, skip: set[str]) -> dict:
    from gradio_client import Client, handle_file

    cache, tmp = work / "gradio", work / "tmp"
    cache.mkdir(), tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(source), "GRADIO_TEMP_DIR": str(cache), "TMPDIR": str(tmp),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GIFNET_WEIGHTS", None)
    port = free_port()
    log = open(work / "demo.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gifnet", "demo", "--port", str(port)], env=env, cwd=source,
                            stdout=log, stderr=subprocess.STDOUT)
    watch = Watch(proc.pid)
    watch.start()
    out: dict = {}
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                client = Client(url, verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        small = photo(work / "small.png", 0, grey=False)
        client.predict(handle_file(photo(work / "warm_a.png", 1, True)), handle_file(small), "ivif", False,
                       api_name="/fuse")          # warm up: the model is loaded on the first request
        out["idle_mb"] = round(rss(proc.pid) / MB)
        bombs = {"png_rgb_20000": lambda: png_bomb(work / "rgb.png", 20000, 20000),
                 "png_grey_25000": lambda: png_bomb(work / "grey.png", 25000, 25000, 1),
                 "tiff_20000": lambda: tiff_bomb(work / "big.tif", 20000, 20000),
                 "jpeg_header_20000x15000": lambda: jpeg_bomb(work / "big.jpg", 20000, 15000)}
        files = {k: make() for k, make in bombs.items() if k not in skip}
        cases = {k: (v, small) for k, v in files.items()}
        if "pair" not in skip and {"png_rgb_20000", "png_grey_25000"} <= files.keys():
            cases["pair"] = (files["png_rgb_20000"], files["png_grey_25000"])
        if "largest" not in skip:        # a legitimate pair just under the demo's cap: decoded, downscaled, fused
            big = [photo(work / f"big{i}.jpg", 500 + i, i == 0, size=(5400, 4000)) for i in range(2)]
            cases["largest_accepted_5400x4000_jpeg_pair"] = tuple(big)
        out["bombs"] = {}
        for name, (a, b) in cases.items():
            t0 = time.monotonic()
            try:
                client.predict(handle_file(a), handle_file(b), "ivif", False, api_name="/fuse")
                answer = "accepted"
            except Exception as e:  # noqa: BLE001 - the app's error, as a client sees it
                answer = str(e)[:300]
            seconds = time.monotonic() - t0
            time.sleep(0.3)
            out["bombs"][name] = {"file_kb": round(Path(a).stat().st_size / 1024), "seconds": round(seconds, 1),
                                  "peak_mb": round(watch.peak_since(t0) / MB), "after_mb": round(rss(proc.pid) / MB),
                                  "answer": answer}

        pairs = [(photo(work / f"ir{i}.png", 100 + i, True), photo(work / f"vis{i}.png", 200 + i, False))
                 for i in range(burst)]
        before_burst = usage(cache, tmp)

        def one(pair):
            t = time.monotonic()
            try:
                Client(url, verbose=False).predict(handle_file(pair[0]), handle_file(pair[1]), "ivif", False,
                                                   api_name="/fuse")
                return True, time.monotonic() - t
            except Exception:  # noqa: BLE001
                return False, time.monotonic() - t
        t0 = time.monotonic()
        with ThreadPoolExecutor(burst) as pool:
            results = list(pool.map(one, pairs))
        lat = sorted(s for _, s in results)
        after_files, after_bytes = usage(cache, tmp)
        out["burst"] = {"requests": burst, "answered": sum(ok for ok, _ in results), "wall_s": round(
            time.monotonic() - t0, 1), "median_s": round(statistics.median(lat), 1), "max_s": round(lat[-1], 1),
            "peak_mb": round(watch.peak_since(t0) / MB), "alive_after": proc.poll() is None,
            "temp_files_per_request": round((after_files - before_burst[0]) / burst, 1),
            "temp_kb_per_request": round((after_bytes - before_burst[1]) / burst / 1024)}
        out["temp_after_all"] = {"files": after_files, "mb": round(after_bytes / MB, 1),
                                 "gradio_cache_files": usage(cache)[0], "system_temp_files": usage(tmp)[0]}
        out["peak_mb"] = round(max(r for _, r in watch.samples) / MB)
    finally:
        watch.stop = True
        proc.terminate()
        proc.wait(60)
        log.close()
    return out


SLOW_WRITE = """
import sys, time
from pathlib import Path
from PIL import Image
from gifnet.cli import main

marker, calls, save = Path(sys.argv[1]), [], Image.Image.save
def slow_second_save(self, fp, *args, **kwargs):
    calls.append(fp)
    if len(calls) == 2:
        Path(fp).write_bytes(b"partial")
        marker.write_text(str(fp))
        time.sleep(60)
    return save(self, fp, *args, **kwargs)
Image.Image.save = slow_second_save
sys.exit(main(sys.argv[2:]))
"""


def probe_cli(source: Path, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source)}
    env.pop("GIFNET_WEIGHTS", None)
    for d in ("a", "b"):
        (work / d).mkdir()
    for i in range(3):
        photo(work / "a" / f"{i}.png", 300 + i, True)
        photo(work / "b" / f"{i}.png", 400 + i, False)
    out_dir, marker = work / "out", work / "writing"
    args = ["fuse", str(work / "a"), str(work / "b"), "-o", str(out_dir), "--task", "ivif"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, str(marker), *args], env=env, cwd=source,
                            stderr=subprocess.PIPE, text=True)
    while not marker.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.terminate()                                               # SIGTERM
    err = proc.communicate(timeout=60)[1]
    left = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
    result = {"sigterm": {"exit": proc.returncode, "message": err.strip().splitlines()[-2:] if err.strip() else [],
                          "files_left": left, "stray": [n for n in left if n.startswith(".")]}}
    r = subprocess.run([sys.executable, "-m", "gifnet", *args, "--skip-existing"], env=env, cwd=source,
                       capture_output=True, text=True)
    result["resume"] = {"exit": r.returncode, "message": r.stderr.strip().splitlines()[-1:],
                        "files": sorted(p.name for p in out_dir.iterdir())}
    r = subprocess.run(["sh", "-c", 'umask 022 && exec "$0" -m gifnet "$@"', sys.executable, "fuse",
                        str(work / "a" / "0.png"), str(work / "b" / "0.png"), "-o", str(work / "umask.png")],
                       env=env, cwd=source, capture_output=True, text=True)
    mode = oct((work / "umask.png").stat().st_mode & 0o777) if (work / "umask.png").exists() else None
    result["umask_022"] = {"exit": r.returncode, "mode": mode}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=REPO, help="the gifnet checkout to probe (default: this one)")
    p.add_argument("--burst", type=int, default=16, help="concurrent requests in the burst (default 16)")
    p.add_argument("--skip", nargs="*", default=[], help="bomb cases to leave out (e.g. pair on an unfixed checkout)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args()
    result = {"machine": machine(), "source": str(args.source)}
    with tempfile.TemporaryDirectory(prefix="gifnet-probe-") as work:
        (Path(work) / "demo").mkdir()
        (Path(work) / "cli").mkdir()
        result["demo"] = probe_demo(args.source.resolve(), Path(work) / "demo", args.burst, set(args.skip))
        result["cli"] = probe_cli(args.source.resolve(), Path(work) / "cli")
    result["machine"]["load_after"] = os.getloadavg()
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
