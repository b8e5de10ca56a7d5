"""gifnet: GIFNet (CVPR 2025) image fusion as a package.

    import gifnet
    fused = gifnet.fuse("ir.png", "vis.jpg", task="ivif")      # numpy array, input size
    model = gifnet.load_model()                                 # default weights; or a path / "official" / org/name@rev
"""
from .errors import GifnetError
from .hub import load_model
from .image import read_image, write_image
from .model import GIFNet, GIFNetConfig
from .pipeline import TASKS, enhance, fuse, fuse_multispectral

__version__ = "0.1.0"
__all__ = ["GIFNet", "GIFNetConfig", "GifnetError", "TASKS", "enhance", "fuse", "fuse_multispectral", "load_model",
           "read_image", "write_image", "__version__"]
