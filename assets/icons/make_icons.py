#!/usr/bin/env python3
"""Draws Commissioner's app icon (a check mark on a rounded blue square) with the standard
library only, and writes the files src-tauri/icons needs: RGBA PNGs and an ICO."""
import math
import struct
import sys
import zlib
from pathlib import Path

BLUE = (11, 83, 148)
WHITE = (255, 255, 255)


def dist_to_segment(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def pixel(x, y):
    """Colour of a point in the unit square, with coverage for the rounded corners."""
    r = 0.2
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    outside = math.hypot(x - cx, y - cy) - r
    if outside > 0:
        return None
    stroke = 0.085
    d = min(
        dist_to_segment(x, y, 0.26, 0.53, 0.43, 0.70),
        dist_to_segment(x, y, 0.43, 0.70, 0.75, 0.32),
    )
    return WHITE if d < stroke else BLUE


def render(size, ss=4):
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            acc = [0, 0, 0, 0]
            for sj in range(ss):
                for si in range(ss):
                    c = pixel((i + (si + 0.5) / ss) / size, (j + (sj + 0.5) / ss) / size)
                    if c is not None:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 255
            n = ss * ss
            a = acc[3] // n
            if a:
                covered = acc[3] // 255
                row += bytes((acc[0] // covered, acc[1] // covered, acc[2] // covered, a))
            else:
                row += b"\0\0\0\0"
        rows.append(bytes(row))
    return rows


def png(size):
    raw = b"".join(b"\0" + r for r in render(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def ico(pngs):
    """An ICO whose entries are PNG images (Vista and later)."""
    head = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, data in pngs:
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return head + entries + blobs


def main(out):
    out.mkdir(parents=True, exist_ok=True)
    cache = {s: png(s) for s in (16, 32, 48, 128, 256, 512)}
    (out / "32x32.png").write_bytes(cache[32])
    (out / "128x128.png").write_bytes(cache[128])
    (out / "128x128@2x.png").write_bytes(cache[256])
    (out / "icon.png").write_bytes(cache[512])
    (out / "icon.ico").write_bytes(ico([(s, cache[s]) for s in (16, 32, 48, 256)]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "src-tauri" / "icons")
