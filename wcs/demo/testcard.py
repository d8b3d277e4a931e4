"""The demo test card: scrolling colour bars, a bouncing square and a clock, in YUV 4:2:0.

Pure Python (bytes slicing, no numpy): each plane is built row by row from precomputed
bar rows, so one 640x360 picture costs well under a millisecond of slicing.
"""

from __future__ import annotations

from dataclasses import dataclass

# (Y, U, V) of 75% colour bars, BT.601: white, yellow, cyan, green, magenta, red, blue, black.
_BARS = (
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
    (16, 128, 128),
)

# 5x7 glyphs for the clock: one string of 7 rows of 5 cells per character.
_FONT = {
    "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    ":": "00000011000110000000011000110000000",
    " ": "00000000000000000000000000000000000",
}
_GLYPH_W, _GLYPH_H = 5, 7


@dataclass(frozen=True, slots=True)
class Picture:
    """One YUV 4:2:0 picture, planes without row padding."""

    width: int
    height: int
    y: bytes
    u: bytes
    v: bytes


class TestCard:
    """Renders picture ``index`` (the motion) with ``clock`` (e.g. ``"12:34:56"``) on it."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, width: int = 640, height: int = 360, scale: int = 6) -> None:
        if width % 16 or height % 8 or width < 160 or height < 96:
            raise ValueError("width: a multiple of 16; height: of 8; at least 160x96")
        self.width = width
        self.height = height
        self.scale = scale
        bar_w = width // len(_BARS)
        y_row = bytearray()
        u_row = bytearray()
        v_row = bytearray()
        for y, u, v in _BARS:
            y_row += bytes([y]) * bar_w
            u_row += bytes([u]) * (bar_w // 2)
            v_row += bytes([v]) * (bar_w // 2)
        y_row += bytes([16]) * (width - len(y_row))
        u_row += bytes([128]) * (width // 2 - len(u_row))
        v_row += bytes([128]) * (width // 2 - len(v_row))
        # Doubled so that a scrolled row is one slice.
        self._y_row = bytes(y_row * 2)
        self._u_row = bytes(u_row * 2)
        self._v_row = bytes(v_row * 2)

    def render(self, index: int, clock: str) -> Picture:
        w, h = self.width, self.height
        cw, ch = w // 2, h // 2
        shift = (index * 4) % w
        shift -= shift % 2  # keep luma and chroma scrolling together
        y_plane = bytearray(self._y_row[shift : shift + w] * h)
        u_plane = bytearray(self._u_row[shift // 2 : shift // 2 + cw] * ch)
        v_plane = bytearray(self._v_row[shift // 2 : shift // 2 + cw] * ch)
        self._band(y_plane, u_plane, v_plane, clock)
        self._square(y_plane, u_plane, v_plane, index)
        return Picture(w, h, bytes(y_plane), bytes(u_plane), bytes(v_plane))

    def _band(self, yp: bytearray, up: bytearray, vp: bytearray, text: str) -> None:
        """A dark band across the middle with the clock in white."""
        w, s = self.width, self.scale
        text_w = len(text) * (_GLYPH_W + 1) * s
        text_h = _GLYPH_H * s
        band_top = (self.height - text_h) // 2 - s * 2
        band_top -= band_top % 2
        band_h = text_h + s * 4
        band_h += band_h % 2
        x0 = max(0, (w - text_w) // 2)
        rows: list[bytes] = []
        for gy in range(_GLYPH_H):
            row = bytearray(b"\x20" * w)
            x = x0
            for char in text:
                bits = _FONT.get(char, _FONT[" "])
                for gx in range(_GLYPH_W):
                    if bits[gy * _GLYPH_W + gx] == "1" and x + (gx + 1) * s <= w:
                        row[x + gx * s : x + (gx + 1) * s] = b"\xeb" * s
                x += (_GLYPH_W + 1) * s
            rows.append(bytes(row))
        blank = b"\x20" * w
        text_top = band_top + s * 2
        for r in range(band_h):
            line = band_top + r
            if not 0 <= line < self.height:
                continue
            gy = (line - text_top) // s
            src = rows[gy] if 0 <= line - text_top < text_h else blank
            yp[line * w : (line + 1) * w] = src
        cw = w // 2
        for r in range(band_top // 2, min((band_top + band_h) // 2, self.height // 2)):
            up[r * cw : (r + 1) * cw] = b"\x80" * cw
            vp[r * cw : (r + 1) * cw] = b"\x80" * cw

    def _square(self, yp: bytearray, up: bytearray, vp: bytearray, index: int) -> None:
        """A 32x32 orange square bouncing around the picture (shows motion and smoothness)."""
        size = 32
        w, h = self.width, self.height
        x = _bounce(index * 6, w - size)
        y = _bounce(index * 4, h - size)
        x -= x % 2
        y -= y % 2
        for r in range(y, y + size):
            yp[r * w + x : r * w + x + size] = b"\xa0" * size
        cw = w // 2
        for r in range(y // 2, (y + size) // 2):
            up[r * cw + x // 2 : r * cw + (x + size) // 2] = b"\x30" * (size // 2)
            vp[r * cw + x // 2 : r * cw + (x + size) // 2] = b"\xc8" * (size // 2)


def _bounce(position: int, span: int) -> int:
    """A triangle wave over 0..span."""
    period = 2 * span
    p = position % period
    return p if p <= span else period - p
