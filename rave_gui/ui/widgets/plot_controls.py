"""MetricsPlot's controls: the navigation toolbar, and the legend whose ticks show series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from .plot_style import LOSS, LR, VALIDATION, swatch

_TOOLTIPS = {
    VALIDATION: "{name}: validation loss (left axis)",
    LR: "{name}: learning rate (right axis, log scale)",
    LOSS: "{name} (left axis)",
}


class PlotToolbar(NavigationToolbar2QT):
    """matplotlib's toolbar without the subplot and figure-options editors; Home calls
    ``on_home`` (the plot returns to following the whole run)."""

    toolitems: ClassVar[list] = [
        t for t in NavigationToolbar2QT.toolitems if t[0] not in ("Subplots", "Customize")
    ]

    def __init__(
        self, canvas: FigureCanvasQTAgg, parent: QWidget, on_home: Callable[[], None]
    ) -> None:
        self._on_home = on_home
        super().__init__(canvas, parent, coordinates=False)
        self.setIconSize(QSize(18, 18))

    def home(self, *args: Any) -> None:
        self.forget_views()
        self._on_home()

    def forget_views(self) -> None:
        """Home, Back and Forward start afresh (the plot follows the whole run again)."""
        self._nav_stack.clear()
        self.set_history_buttons()


class SeriesLegend(QListWidget):
    """The plot's series with their colours, each ticked to show it: ``toggled(name, on)``."""

    toggled = pyqtSignal(str, bool)

    def __init__(self) -> None:
        super().__init__()
        self.setToolTip("Tick a series to show it")
        self.setFixedWidth(200)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.itemChanged.connect(self._on_item_changed)

    def add_series(
        self, name: str, kind: str, color: str, visible: bool, row: int | None = None
    ) -> QListWidgetItem:
        """A series' entry, at ``row`` (None: the end); adding it emits no ``toggled``."""
        item = QListWidgetItem(swatch(color), name)
        item.setFlags(
            Qt.ItemFlag.ItemIsUserCheckable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
        )
        item.setData(Qt.ItemDataRole.UserRole, name)
        item.setToolTip(_TOOLTIPS[kind].format(name=name))
        self.blockSignals(True)
        item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
        if row is None:
            self.addItem(item)
        else:
            self.insertItem(row, item)
        self.blockSignals(False)
        return item

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        self.toggled.emit(name, item.checkState() == Qt.CheckState.Checked)


__all__ = ["PlotToolbar", "SeriesLegend"]
