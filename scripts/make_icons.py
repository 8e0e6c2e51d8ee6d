#!/usr/bin/env python3
"""Render the application icon's PNG sizes from resources/icons/rave-gui.svg.

    .venv/bin/python scripts/make_icons.py           # writes resources/icons/rave-gui-<N>.png
    .venv/bin/python scripts/make_icons.py --check   # exit 1 if a PNG is missing or stale

Run it after editing the SVG and commit the PNGs: desktops and window managers want bitmaps at
16, 32, 48, 64, 128 and 256 px, and an installed rave-gui should not need the SVG renderer to
show its icon. Offscreen, no display needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A PNG counts as stale when its pixels differ from a fresh render by more than this on
# average (0-255 scale): another Qt version may antialias an edge a little differently.
TOLERANCE = 2.0


def render(svg: Path, size: int):
    """The SVG drawn on a transparent ``size`` x ``size`` image."""
    from PyQt6.QtGui import QImage, QPainter
    from PyQt6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def mean_difference(a, b) -> float:
    """The mean absolute difference of two same-sized ARGB images, per channel."""
    import numpy as np

    def pixels(image):
        image = image.convertToFormat(image.Format.Format_ARGB32)
        data = image.constBits().asstring(image.sizeInBytes())
        return np.frombuffer(data, dtype=np.uint8).astype(np.int16)

    if a.size() != b.size():
        return float("inf")
    return float(np.abs(pixels(a) - pixels(b)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtGui import QGuiApplication, QImage

    from rave_gui.backend.system.resources import APP_ICON_SIZES, APP_ID

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    icons = ROOT / "resources" / "icons"
    svg = icons / f"{APP_ID}.svg"
    stale = []
    for size in APP_ICON_SIZES:
        png = icons / f"{APP_ID}-{size}.png"
        image = render(svg, size)
        if args.check:
            committed = QImage(str(png))
            if committed.isNull() or mean_difference(image, committed) > TOLERANCE:
                stale.append(png.name)
        elif not image.save(str(png), "PNG"):
            raise SystemExit(f"make_icons: cannot write {png}")
        else:
            print(f"wrote {png.relative_to(ROOT)}")
    if stale:
        print(f"make_icons: stale or missing, run scripts/make_icons.py: {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
