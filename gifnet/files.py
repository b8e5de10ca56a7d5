"""The one way gifnet writes a file: `atomic_write(path, write)`.

`write(tmp)` fills a temporary file beside `path` (`.gifnet-<random><suffix>`, named before it exists); only a
complete file is renamed over `path`, so an interrupted write (an exception, Ctrl-C, the CLI's SIGTERM/SIGHUP) never
leaves a truncated file or a stray temporary one. A new file gets the permissions a plain `open()` would give it under
the current umask; a replaced file keeps its own. Images (`gifnet.image.write_image`), reports, checkpoints, model
cards and downloads all go through here.
"""
from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

from .errors import GifnetError

PathLike = str | os.PathLike


def atomic_write(path: PathLike, write: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """Write `path` through `write(tmp)`; refuse an existing `path` unless `overwrite`. An OSError becomes a
    GifnetError naming the file; any other exception from `write` passes through (the temporary file removed)."""
    path = Path(path)
    if not overwrite and path.exists():
        raise GifnetError(f"{path}: already exists; choose another name or pass --overwrite")
    tmp = path.parent / f".gifnet-{uuid.uuid4().hex[:16]}{path.suffix}"
    try:
        keep_mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))    # 0o666 & ~umask, as open() gives
        write(tmp)
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        os.replace(tmp, path)
    except OSError as e:
        raise GifnetError(f"{path}: could not write ({e.strerror or e}); check free space and permissions") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: PathLike, text: str) -> Path:
    """`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
