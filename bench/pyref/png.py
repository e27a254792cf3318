"""A PNG decoder in numpy and zlib, for the label maps (8-bit grayscale) that `rpctrain prepare-data` writes in the
ADE20K layout (the torch venv has no image library). Non-interlaced 8-bit grayscale, grayscale + alpha, RGB and
RGBA; all five row filters. Not a general PNG reader: no palettes, no 1/2/4/16-bit samples, no Adam7."""
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # color type -> samples per pixel


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _unfilter(data, height, width, bpp):
    stride = width * bpp
    rows = np.frombuffer(data, np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.int32)
    prior = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) & 0xFF
        elif kind == 2:  # Up
            cur = (line + prior) & 0xFF
        elif kind in (3, 4):  # Average, Paeth: pixel by pixel (all channels at once)
            cur = np.zeros(stride, np.int32)
            left = np.zeros(bpp, np.int32)
            up_left = np.zeros(bpp, np.int32)
            for x in range(0, stride, bpp):
                up = prior[x:x + bpp]
                pred = (left + up) // 2 if kind == 3 else _paeth(left, up, up_left)
                cur[x:x + bpp] = left = (line[x:x + bpp] + pred) & 0xFF
                up_left = up
        else:
            raise ValueError(f"png: unknown filter type {kind} in row {y}")
        out[y] = prior = cur
    return out.astype(np.uint8)


def read_png(path):
    """The pixels of a PNG file: (H, W) uint8 for grayscale, (H, W, C) uint8 otherwise."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    pos, header, idat = len(_SIGNATURE), None, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in _CHANNELS or interlace != 0:
        raise ValueError(f"{path}: bit depth {depth}, color type {color}, interlace {interlace}: this reader takes "
                         "8-bit gray / gray+alpha / RGB / RGBA, not interlaced")
    bpp = _CHANNELS[color]
    pixels = _unfilter(zlib.decompress(b"".join(idat)), height, width, bpp)
    return pixels.reshape(height, width) if bpp == 1 else pixels.reshape(height, width, bpp)
