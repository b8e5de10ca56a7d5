"""gifnet: GIFNet (CVPR 2025) image fusion as a package."""
from .errors import GifnetError
from .model import GIFNet, GIFNetConfig

__version__ = "0.1.0"
__all__ = ["GIFNet", "GIFNetConfig", "GifnetError", "__version__"]
