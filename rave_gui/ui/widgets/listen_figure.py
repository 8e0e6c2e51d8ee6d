"""ListenFigure: the Listen panel's picture, waveform over spectrogram for input and
reconstruction, built once and updated in place for each clip (issue 12: click to sound).

The axes, the two waveform lines and the two spectrogram images are made once; a new clip only
gives them new data (a min/max envelope one point pair per pixel column, spectrograms reduced to
the axes' pixel size): nothing is cleared or rebuilt. The lines and images are drawn over the
rest (axes, ticks, titles): while that rest is what was drawn last (same size, limits, colours,
part), only they are drawn again over the kept background (blit, a few ms); else one full draw
is asked for (``draw_idle``). ``draws`` counts both kinds.
matplotlib loads when the figure is first built (the panel is first shown), not on import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...backend.rave.audio import PARTS

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

PART_LABELS = {"input": "A · input", "reconstruction": "B · reconstruction"}
DYNAMIC_DB = 80.0  # the spectrograms show the loudest 80 dB


@dataclass(frozen=True)
class Colors:
    """The palette's colours the figure is drawn in."""

    bg: str
    fg: str
    grid: str
    accent: str


def envelope(samples: np.ndarray, rate: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """A mono waveform reduced to ``columns`` pixel columns: each column's minimum and maximum
    in turn (x twice per column), drawn as one line peaks are kept, at any length."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    step = max(1, x.size // max(1, columns))
    n = x.size // step
    if n == 0:
        return np.zeros(0), np.zeros(0)
    blocks = x[: n * step].reshape(n, step)
    y = np.empty(2 * n, dtype=np.float32)
    y[0::2] = blocks.min(axis=1)
    y[1::2] = blocks.max(axis=1)
    t = np.repeat(np.arange(n, dtype=np.float64) * (step / rate), 2)
    return t, y


def shrink(spec: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A spectrogram (bins x frames) reduced to at most about ``rows`` x ``cols`` by the
    loudest value of each block: what a pixel can show, quiet detail dropped, peaks kept."""
    fr = max(1, -(-spec.shape[0] // max(1, rows)))
    fc = max(1, -(-spec.shape[1] // max(1, cols)))
    if fr == fc == 1:
        return spec
    h, w = -(-spec.shape[0] // fr) * fr, -(-spec.shape[1] // fc) * fc
    padded = np.pad(spec, ((0, h - spec.shape[0]), (0, w - spec.shape[1])), mode="edge")
    return padded.reshape(h // fr, fr, w // fc, fc).max(axis=(1, 3))


class ListenFigure:
    """The 2x2 figure of the Listen panel and its canvas; ``show_clip`` / ``show_message``
    update it in place and ask for one draw."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(6, 3.2), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        axes = self.figure.subplots(2, 2, sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
        self.waves: list[Axes] = [axes[0][0], axes[0][1]]
        self.specs: list[Axes] = [axes[1][0], axes[1][1]]
        self.lines: list[Line2D] = []
        self.images: list[AxesImage] = []
        for col, part in enumerate(PARTS):
            wave_ax, spec_ax = self.waves[col], self.specs[col]
            (line,) = wave_ax.plot([], [], lw=0.8, animated=True)
            self.lines.append(line)
            wave_ax.set_ylim(-1, 1)
            wave_ax.set_yticks([-1, 0, 1])
            wave_ax.set_title(PART_LABELS[part], fontsize=9)
            self.images.append(
                spec_ax.imshow(
                    np.zeros((2, 2), dtype=np.float32),
                    origin="lower",
                    aspect="auto",
                    cmap="magma",
                    interpolation="nearest",
                    animated=True,
                )
            )
            spec_ax.set_xlabel("seconds", fontsize=8)
        self.specs[0].set_ylabel("kHz", fontsize=8)
        self.message: Text = self.figure.text(0.5, 0.5, "", ha="center", va="center")
        self._colors: Colors | None = None
        self._part = ""
        self._data: tuple[list[np.ndarray], list[np.ndarray], int] | None = None
        self.draws = 0  # full draws and blits of the data, one each per clip shown
        self._background: object = None  # the figure without the data, as last drawn
        self._drawn_key: tuple | None = None
        self.canvas.mpl_connect("resize_event", self._resized)
        self.canvas.mpl_connect("draw_event", self._on_draw)

    # --- what is shown -------------------------------------------------------------------------
    def show_message(self, text: str, colors: Colors) -> None:
        """No clip: the axes hidden, ``text`` in the middle."""
        self._data = None
        self._style(colors)
        for ax in self.figure.axes:
            ax.set_visible(False)
        self.message.set_text(text)
        self.message.set_visible(True)
        self.canvas.draw_idle()

    def show_clip(
        self, waves: list[np.ndarray], specs: list[np.ndarray], rate: int, part: str, c: Colors
    ) -> None:
        """Input and reconstruction (mono samples, spectrograms in dB) at ``rate``, ``part``
        the active one: the artists get the new data, one draw is asked for."""
        self._data = (waves, specs, rate)
        self._style(c)
        self.message.set_visible(False)
        for ax in self.figure.axes:
            ax.set_visible(True)
        self._fill()
        self.set_part(part, c, draw=False)
        if self._background is not None and self._drawn_key == self._key():
            self._blit()
        else:
            self.canvas.draw_idle()

    def set_part(self, part: str, c: Colors, draw: bool = True) -> None:
        """Draw ``part`` (input or reconstruction) in the highlight colour."""
        self._style(c)
        if part != self._part:
            self._part = part
            for col, p in enumerate(PARTS):
                active = p == part
                color = c.accent if active else c.fg
                self.lines[col].set_color(color)
                self.waves[col].title.set_color(color)
                for ax in (self.waves[col], self.specs[col]):
                    for sp in ax.spines.values():
                        sp.set_color(color if active else c.grid)
                        sp.set_linewidth(1.5 if active else 0.8)
        if draw:
            self.canvas.draw_idle()

    # --- drawing ------------------------------------------------------------------------------
    def _key(self) -> tuple:
        """What the background depends on: size, limits, part, colours, what is visible."""
        return (
            tuple(self.figure.bbox.bounds),
            *(ax.get_xlim() + ax.get_ylim() for ax in self.specs),
            self._part,
            self._colors,
            self.message.get_visible(),
        )

    def _data_artists(self) -> list[Artist]:
        """The lines and images, then the spines again (over the images' edges, as drawn in
        full)."""
        if self._data is None:
            return []
        spines = [sp for ax in self.figure.axes for sp in ax.spines.values()]
        return [*self.images, *self.lines, *spines]

    def _on_draw(self, _event: object) -> None:
        """After a full draw: keep the background, draw the data over it."""
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._drawn_key = self._key()
        for artist in self._data_artists():
            self.figure.draw_artist(artist)
        self.draws += 1

    def _blit(self) -> None:
        """The data alone drawn again over the kept background."""
        self.canvas.restore_region(self._background)
        for artist in self._data_artists():
            self.figure.draw_artist(artist)
        self.canvas.blit(self.figure.bbox)
        self.draws += 1

    # --- inside ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        """The envelopes and spectrograms at the axes' present pixel size."""
        if self._data is None:
            return
        waves, specs, rate = self._data
        top = max(float(s.max()) for s in specs)
        for col in range(len(PARTS)):
            samples, spec = waves[col], specs[col]
            seconds = samples.size / rate
            box = self.specs[col].bbox
            self.lines[col].set_data(*envelope(samples, rate, int(box.width)))
            image = self.images[col]
            image.set_data(shrink(spec, int(box.height), int(box.width)))
            image.set_extent((0, seconds, 0, rate / 2000))
            image.set_clim(top - DYNAMIC_DB, top)
        self.specs[0].set_xlim(0, waves[0].size / rate)
        self.specs[0].set_ylim(0, rate / 2000)
        self.specs[1].set_ylim(0, rate / 2000)

    def _style(self, c: Colors) -> None:
        """The palette's colours (applied again only when they change)."""
        if c == self._colors:
            return
        self._colors, self._part = c, ""  # the active part is coloured again
        self.figure.set_facecolor(c.bg)
        self.message.set_color(c.fg)
        for ax in self.figure.axes:
            ax.set_facecolor(c.bg)
            ax.tick_params(colors=c.fg, labelsize=7)
            ax.xaxis.label.set_color(c.fg)
            ax.yaxis.label.set_color(c.fg)

    def _resized(self, _event: object = None) -> None:
        """Margins in pixels (titles and tick labels keep their room at any size); the data
        again at the new pixel size."""
        fig = self.figure
        w, h = max(fig.bbox.width, 100.0), max(fig.bbox.height, 100.0)
        fig.subplots_adjust(
            left=46 / w,
            right=1 - 8 / w,
            top=1 - 20 / h,
            bottom=34 / h,
            wspace=36 / (w / 2),
            hspace=min(0.6, 44 / (h / 2)),
        )
        self._fill()
