"""Crafted decompression bombs, made by the tests (never committed): small files whose headers claim huge images.

Each is a valid file that a decoder would expand to the size its header claims: the PNG and the TIFF hold real
compressed zeros (about 1 000:1), the JPEG is a 16x16 image whose frame header was rewritten to a huge size.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(path: Path, width: int, height: int, channels: int = 3) -> Path:
    """An 8-bit grey (channels=1) or RGB PNG of zeros. Every row is the same deflate block (compressed once, ended by
    a full flush so it does not refer to the rows before it), so a 20000x20000 RGB bomb takes milliseconds to make."""
    row = bytes(1 + width * channels)                       # filter byte 0 + the row's samples
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(row) + c.flush(zlib.Z_FULL_FLUSH)
    n = len(row) * height
    adler = ((n % 65521) << 16) | 1                         # Adler-32 of n zero bytes
    stream = b"\x78\xda" + block * height + b"\x03\x00" + struct.pack(">I", adler)   # final empty block, checksum
    ihdr = struct.pack(">IIBBBBB", width, height, 8, {1: 0, 3: 2}[channels], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b""))
    return path


def tiff_bomb(path: Path, width: int, height: int, tile: int = 512) -> Path:
    """A grey uint8 TIFF of zlib-compressed zero tiles (written tile by tile: nothing big in memory)."""
    import tifffile

    zeros = np.zeros((tile, tile), np.uint8)
    n = -(-height // tile) * -(-width // tile)
    tifffile.imwrite(path, data=(zeros for _ in range(n)), shape=(height, width), dtype=np.uint8,
                     tile=(tile, tile), compression="zlib")
    return path


def jpeg_bomb(path: Path, width: int, height: int) -> Path:
    """A 16x16 RGB JPEG whose baseline frame header (SOF0) claims width x height."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")                           # marker, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path
