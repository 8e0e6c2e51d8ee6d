"""The app's own icons as QIcons: the application icon and the pages' sidebar icons.

The page icons are monochrome SVGs drawn in black; they are tinted with the palette's text
colour when painted (the highlighted-text colour on a selected row), so they read on light and
dark themes alike. A missing resource gives an empty icon and a logged warning, never an error:
an icon is not worth refusing to start for.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QRect, QSize
from PyQt6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PyQt6.QtSvg import QSvgRenderer

from ..backend.errors import RaveGuiError
from ..backend.system.resources import APP_ICON_SIZES, app_icon_png, app_icon_svg, page_icon_svg

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    """The application icon: the committed PNG sizes, and the SVG for any other size."""
    icon = QIcon()
    try:
        for size in APP_ICON_SIZES:
            icon.addFile(str(app_icon_png(size)), QSize(size, size))
        icon.addFile(str(app_icon_svg()))
    except RaveGuiError as err:
        log.warning("%s", err)
    return icon


class TintedSvgIconEngine(QIconEngine):
    """Paints a monochrome SVG in the palette's colour for the icon's mode."""

    def __init__(self, renderer: QSvgRenderer) -> None:
        super().__init__()
        self._renderer = renderer

    def clone(self) -> QIconEngine:
        return TintedSvgIconEngine(self._renderer)

    def _color(self, mode: QIcon.Mode) -> QColor:
        palette = QGuiApplication.palette()
        if mode == QIcon.Mode.Disabled:
            return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
        if mode == QIcon.Mode.Selected:
            return palette.color(QPalette.ColorRole.HighlightedText)
        return palette.color(QPalette.ColorRole.WindowText)

    def _image(self, size: QSize, mode: QIcon.Mode) -> QImage:
        image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(0)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._renderer.render(painter)
        # Keep the drawing's coverage, replace its colour.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(image.rect(), self._color(mode))
        painter.end()
        return image

    def paint(
        self, painter: QPainter | None, rect: QRect, mode: QIcon.Mode, state: QIcon.State
    ) -> None:
        if painter is None or rect.isEmpty():
            return
        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        image = self._image(rect.size() * ratio, mode)
        image.setDevicePixelRatio(ratio)
        painter.drawImage(rect, image)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        if size.isEmpty():
            return QPixmap()
        return QPixmap.fromImage(self._image(size, mode))

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        return size


def page_icon(name: str) -> QIcon:
    """A page's sidebar icon (``projects``, ``datasets``, ``training``, ``export``,
    ``settings``), tinted to the palette."""
    try:
        renderer = QSvgRenderer(str(page_icon_svg(name)))
    except RaveGuiError as err:
        log.warning("%s", err)
        return QIcon()
    return QIcon(TintedSvgIconEngine(renderer))


__all__ = ["TintedSvgIconEngine", "app_icon", "page_icon"]
