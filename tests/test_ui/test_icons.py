"""The app's own icons: the application icon on the window and its dialogs, the pages' sidebar
icons tinted to the palette, and the committed PNGs matching their SVG."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import QSize
from PyQt6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPalette

from rave_gui.backend.system.resources import APP_ICON_SIZES, PAGE_ICONS
from rave_gui.ui.icons import app_icon, page_icon

ROOT = Path(__file__).resolve().parents[2]
AMBER = QColor("#fbbf24")  # the latent point in the middle of the application icon


def opaque_colors(image: QImage) -> set[str]:
    """The colours of the fully opaque pixels (the strokes' cores, not their antialiased
    edges)."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    colors = set()
    for y in range(image.height()):
        for x in range(image.width()):
            c = image.pixelColor(x, y)
            if c.alpha() == 255:
                colors.add(c.name())
    return colors


def near(color: QColor, expected: QColor, tolerance: int = 20) -> bool:
    """Within ``tolerance`` per channel (the rounded corners of a 2-pixel square blend a
    little at 16 px)."""
    pairs = zip(color.getRgb()[:3], expected.getRgb()[:3], strict=True)
    return color.alpha() == 255 and all(abs(a - b) <= tolerance for a, b in pairs)


def test_app_icon_has_every_size_and_shows_the_latent_point(qapp) -> None:
    icon = app_icon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert set(APP_ICON_SIZES) <= sizes
    for size in APP_ICON_SIZES:
        image = icon.pixmap(QSize(size, size)).toImage()
        assert image.size() == QSize(size, size)
        middle = image.pixelColor(size // 2, size // 2)
        assert near(middle, AMBER), (size, middle.name())  # readable at every size, even 16 px
        assert image.pixelColor(0, 0).alpha() == 0  # rounded corners


@pytest.mark.parametrize("name", PAGE_ICONS)
def test_page_icons_are_tinted_with_the_palette(qapp, name: str) -> None:
    icon = page_icon(name)
    assert not icon.isNull()
    palette = QGuiApplication.palette()
    text = palette.color(QPalette.ColorRole.WindowText).name()
    selected = palette.color(QPalette.ColorRole.HighlightedText).name()
    normal = icon.pixmap(QSize(24, 24)).toImage()
    assert normal.size() == QSize(24, 24)
    assert opaque_colors(normal) == {text}
    assert opaque_colors(icon.pixmap(QSize(24, 24), QIcon.Mode.Selected).toImage()) == {selected}
    # Sharp on a high-density screen: drawn at twice the pixels, not scaled up.
    hidpi = icon.pixmap(QSize(24, 24), 2.0)
    assert hidpi.size() == QSize(48, 48) and hidpi.devicePixelRatio() == 2.0


def test_a_missing_page_icon_is_an_empty_icon_and_a_warning(qapp, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="rave_gui.ui.icons"):
        icon = page_icon("no-such-page")
    assert icon.isNull()
    assert "no-such-page.svg" in caplog.text


def test_loading_the_icons_is_fast(qapp) -> None:
    start = time.perf_counter()
    for _ in range(10):
        app_icon()
        for name in PAGE_ICONS:
            page_icon(name)
    per_window = (time.perf_counter() - start) / 10
    assert per_window < 0.05, f"{per_window * 1000:.1f} ms to load the icons of one window"


def test_the_window_and_its_dialogs_show_the_app_icon(window) -> None:
    icon = window.windowIcon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= set(APP_ICON_SIZES)
    dialog = window.open_settings()
    assert dialog.windowIcon().cacheKey() == icon.cacheKey()
    dialog.close()
    box = window.show_about()
    assert near(box.iconPixmap().toImage().pixelColor(32, 32), AMBER)
    box.close()


def test_the_sidebar_uses_the_apps_page_icons(window) -> None:
    text = QGuiApplication.palette().color(QPalette.ColorRole.WindowText).name()
    assert window.nav.iconSize() == QSize(24, 24)
    for row, key in enumerate(window.page_keys):
        image = window.nav.item(row).icon().pixmap(QSize(24, 24)).toImage()
        assert opaque_colors(image) == {text}, key
        expected = page_icon(key).pixmap(QSize(24, 24)).toImage()
        assert image == expected, key
    assert not window.settings_action.icon().isNull()


def test_the_committed_pngs_are_rendered_from_the_svg() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_icons.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
