"""Does `torch.compile` pay for itself in the demo's first call? (issue 5: "torch.compile only if it pays for itself")

Each variant runs in a fresh process, as a demo or CLI process would: load the authors' weights, then fuse one
640x480 pair three times (the release's IVIF sample resized). Variants:
  engine      gifnet's tiled engine (`gifnet.pipeline.run_network`, fp32), what gifnet ships;
  compiled    the reference model (`gifnet.model.GIFNet`) under `torch.compile` (inductor, default mode), full frame.
The first call of "compiled" includes compilation; a demo pays it on its first request (and again for each new
image size unless shapes are marked dynamic).

    python benchmarks/compile_check.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def worker(variant: str) -> dict:
    import torch

    from bench_inference import WEIGHTS, pair
    from gifnet.hub import load_model
    from gifnet.pipeline import run_network

    model = load_model(str(WEIGHTS))
    a, b = pair(480, 640)
    if variant == "engine":
        def call():
            return run_network(model, a, b)
    else:
        net = torch.compile(model)
        ta, tb = (torch.from_numpy(p)[None, None] for p in (a, b))

        def call():
            with torch.no_grad():
                return net(ta, tb)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return {"variant": variant, "seconds": times}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2])))
        return
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, 640x480, fp32, seconds per call (first includes any compilation)")
    for variant in ("engine", "compiled"):
        r = subprocess.run([sys.executable, __file__, "--worker", variant], capture_output=True, text=True, cwd=REPO)
        if r.returncode:
            print(f"{variant}: failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        s = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
        print(f"{variant:9s} first {s[0]:6.1f} s, then {s[1]:.1f} s, {s[2]:.1f} s", flush=True)


if __name__ == "__main__":
    main()
