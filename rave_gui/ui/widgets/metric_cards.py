"""MetricCards: the run's latest ``validation`` and main loss terms above its plot, each with
its change since the previous value (an arrow; green when the loss went down, red when it
went up). The choice of series and the trends are the backend's (``backend.runs.cards``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from PyQt6.QtCore import QEvent, QTimer
from PyQt6.QtGui import QFont, QResizeEvent
from PyQt6.QtWidgets import (
    QWIDGETSIZE_MAX,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...backend.runs.cards import BETTER, WORSE, CardSeries, CardValue, caption

GOOD_COLOR = "#2e9e4f"
BAD_COLOR = "#d64541"
CARD_MIN_WIDTH = 124
LIVE_INTERVAL_S = 1.0  # live points show at most once a second (a person reads no faster)


def format_value(v: float) -> str:
    if v != v:
        return "NaN"
    if abs(v) >= 1000 or (v != 0 and abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


class MetricCard(QFrame):
    """One series: its caption, latest value and change."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("metricCard")
        self.setMinimumWidth(CARD_MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.caption_label = QLabel(caption(name))
        self.caption_label.setEnabled(False)  # dimmed
        self.caption_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.value_label = QLabel()
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.15)
        f.setBold(True)
        self.value_label.setFont(f)
        self.change_label = QLabel()
        self.change_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        numbers = QHBoxLayout()  # the value and its change on one line: the plot keeps room
        numbers.setSpacing(6)
        numbers.addWidget(self.value_label)
        numbers.addWidget(self.change_label, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 2, 8, 2)
        lay.setSpacing(0)
        lay.addWidget(self.caption_label)
        lay.addLayout(numbers)
        self.trend: str | None = None
        self._shown: tuple = ()
        # One height, whatever it shows: a card growing by a pixel (a glyph from a fallback
        # font, the style's polish on first show) would resize the plot below, and a resized
        # plot is drawn again whole instead of blitted.
        self._fix_height()

    def _fix_height(self) -> None:
        shown = (self.value_label.text(), self.change_label.text())
        self.value_label.setText("0.0000")
        self.change_label.setText("▲ ▼ → first value")
        self.setMinimumHeight(0)
        self.setMaximumHeight(QWIDGETSIZE_MAX)
        self.ensurePolished()
        self.setFixedHeight(self.sizeHint().height())
        self.value_label.setText(shown[0])
        self.change_label.setText(shown[1])

    def changeEvent(self, event: QEvent | None) -> None:
        super().changeEvent(event)
        if event is not None and event.type() in (
            QEvent.Type.FontChange,
            QEvent.Type.StyleChange,
        ):
            self._fix_height()  # a bigger font, another style: the one height measured again

    def show_value(self, card: CardValue) -> None:
        change = card.change
        if change is None:
            text = "not a number" if card.trend == WORSE else "first value"
        else:
            text = f"{card.arrow} {change:+.3g}"
        color = {BETTER: GOOD_COLOR, WORSE: BAD_COLOR}.get(card.trend or "")
        prev = "" if card.previous is None else f", previous {format_value(card.previous)}"
        tip = f"{card.name} at step {card.step:,}: {format_value(card.value)}{prev}"
        shown = (format_value(card.value), text, color, tip)
        self.trend = card.trend
        if shown == self._shown:
            return  # a style sheet set again costs a restyle and a repaint
        old = self._shown or (None, None, None, None)
        self._shown = shown
        if shown[0] != old[0]:
            self.value_label.setText(shown[0])
        if text != old[1]:
            self.change_label.setText(text)
        if color != old[2]:
            self.change_label.setStyleSheet(f"color: {color};" if color else "")
        if tip != old[3]:
            self.setToolTip(tip)

    def color(self) -> str | None:
        return {BETTER: GOOD_COLOR, WORSE: BAD_COLOR}.get(self.trend or "")


class MetricCards(QWidget):
    """One row of cards, as many as the width holds (the most telling first: validation, then
    the main loss terms), hidden while there is nothing. One row: the plot below keeps its
    height at the smallest window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = CardSeries()
        self.cards: dict[str, MetricCard] = {}
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self._columns = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # Its own minimum (one card), not the row's: narrowing the panel drops cards at the
        # right (resizeEvent) instead of holding the window wide.
        self.setMinimumWidth(CARD_MIN_WIDTH)
        self._last_show = 0.0
        self._timer = QTimer(self)  # live points coming faster than they can be read
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._show)
        self.hide()

    def clear(self) -> None:
        self.series.clear()
        self._show()

    def add_points(
        self, points: Mapping[str, Sequence[tuple[int, float]]], live: bool = False
    ) -> None:
        """New points ``{name: [(step, value), ...]}`` (live, or read from the store). Live
        points show at once, or at most once every ``LIVE_INTERVAL_S``."""
        if not self.series.add(points):
            return
        wait = LIVE_INTERVAL_S - (time.monotonic() - self._last_show)
        if not live or wait <= 0:
            self._show()
        elif not self._timer.isActive():
            self._timer.start(int(wait * 1000) + 1)

    def _show(self) -> None:
        self._timer.stop()
        self._last_show = time.monotonic()
        values = self.series.values()
        names = [v.name for v in values]
        if names != list(self.cards):
            for card in self.cards.values():
                self._grid.removeWidget(card)
                card.hide()  # at once: deleteLater waits for the event loop
                card.deleteLater()
            self.cards = {n: MetricCard(n, self) for n in names}
            self._columns = 0
            self._reflow()
        for v in values:
            self.cards[v.name].show_value(v)
        self.setVisible(bool(values))

    def _reflow(self) -> None:
        n = len(self.cards)
        cols = max(1, min(n, (self.width() + 6) // (CARD_MIN_WIDTH + 6))) if n else 0
        if cols == self._columns:
            return
        self._columns = cols
        for card in self.cards.values():
            self._grid.removeWidget(card)
        for i, card in enumerate(self.cards.values()):
            if i < cols:
                self._grid.addWidget(card, 0, i)
            card.setVisible(i < cols)  # the rest: in the plot's legend and values line
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 1 if c < cols else 0)

    def shown(self) -> list[str]:
        """The names of the cards on screen, left to right."""
        return [n for n, c in self.cards.items() if not c.isHidden()]

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        self._reflow()

    def card_texts(self) -> dict[str, tuple[str, str]]:
        """Each card's value and change text (tests, screenshots)."""
        return {n: (c.value_label.text(), c.change_label.text()) for n, c in self.cards.items()}


__all__ = ["MetricCard", "MetricCards", "format_value"]
