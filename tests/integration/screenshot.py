"""A page rendered by headless Chromium (Debian's chromium) into a PNG, and the PNG's pixels read
back (zlib and PNG's filters only, no imaging library), so a test can tell a chart from an
error page by the colours drawn."""

import os
import shutil
import struct
import subprocess
import zlib

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page, png, tmp_path, width=1000, height=1200, timeout=120):
    """``page`` (a file) rendered to ``png``; Chromium's output for a failure message."""
    assert CHROMIUM, "chromium is not installed (requirements/debian.txt)"
    profile = tmp_path / "chromium-profile"
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--user-data-dir=%s" % profile,
               "--window-size=%d,%d" % (width, height), "--screenshot=%s" % png, "file://%s" % os.path.abspath(page)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    return done.returncode, done.stdout + done.stderr


def _paeth(left, up, corner):
    estimate = left + up - corner
    distances = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    return left if distances[0] <= distances[1] and distances[0] <= distances[2] else (
        up if distances[1] <= distances[2] else corner)


def pixels(png):
    """``(width, height, rows)``: each row a list of (r, g, b) tuples. 8-bit RGB or RGBA, not interlaced."""
    with open(png, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, chunks, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, colour, _compression, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous, position = [], bytearray(stride), 0
    for _row in range(height):
        kind, line = raw[position], bytearray(raw[position + 1:position + 1 + stride])
        position += 1 + stride
        for index in range(stride):
            left = line[index - channels] if index >= channels else 0
            up = previous[index]
            corner = previous[index - channels] if index >= channels else 0
            if kind == 1:
                line[index] = (line[index] + left) & 0xFF
            elif kind == 2:
                line[index] = (line[index] + up) & 0xFF
            elif kind == 3:
                line[index] = (line[index] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[index] = (line[index] + _paeth(left, up, corner)) & 0xFF
        rows.append([tuple(line[index:index + 3]) for index in range(0, stride, channels)])
        previous = line
    return width, height, rows


def count_colour(rows, hex_colour, tolerance=24):
    """How many pixels are within ``tolerance`` (per channel) of ``#rrggbb``."""
    wanted = tuple(int(hex_colour[index:index + 2], 16) for index in (1, 3, 5))
    return sum(1 for row in rows for pixel in row
               if all(abs(channel - target) <= tolerance for channel, target in zip(pixel, wanted)))
