"""GIFNet demo entry point: `python demo/app.py [--host H] [--port P] [--share]`, and the app_file of the Hugging
Face Space (see README.md here). The app itself is `gifnet.demo` (so `gifnet demo` works from a pip install too);
this file finds the package next to it (a clone, or a Space built by demo/build_space.py) and serves it."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for root in (HERE, HERE.parent):          # the Space root holds gifnet/; in a clone it is one level up
    if (root / "gifnet" / "__init__.py").is_file():
        sys.path.insert(0, str(root))
        break

# The served weights: a Space's GIFNET_WEIGHTS variable if set (gifnet.load_model reads it), else the Space's default
# written by build_space.py (weights.txt), else gifnet's bundled default.
SPACE_DEFAULT = HERE / "weights.txt"
weights = None if os.environ.get("GIFNET_WEIGHTS") or not SPACE_DEFAULT.is_file() else SPACE_DEFAULT.read_text().strip()

from gifnet.demo import build_demo, launch  # noqa: E402

demo = build_demo(weights=weights)   # module-level `demo`: what Spaces and `gradio demo/app.py` (reload mode) look for

if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="GIFNet image fusion demo (Gradio)")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    args = p.parse_args()
    launch(args.host, args.port, args.share, demo=demo)
