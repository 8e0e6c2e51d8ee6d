"""Benchmark: from click to sound in the Listen panel (issue 12: under 150 ms for a 6 s clip).

A real ListenPanel (offscreen, 900x560) shows a captured real RAVE run (run_110steps in
shared/fixtures/rave, or RAVE_GUI_FIXTURES). One "click" is: a validation chosen in the list
(``clip_list.setCurrentRow``, what a mouse click does) -> the clip decoded and split and both
spectrograms of every example computed off the GUI thread -> the result back on the GUI thread,
the figure's artists given the new data in place -> ``play()`` called at once (the sound does not
wait for the picture; the panel does the same when the list or slider moves while it plays) ->
the waveforms and spectrograms drawn (the panel's figure counts its draws: a full draw, run by
the event loop as in the app, or, for a clip of the length shown, the data alone over the kept
axes at once, a blit, so that "drawn" may already be done when the clip is seen decoded).
Two figures for ``play()``:

- as this machine is (no audio output device): ``play()`` finds none and shows the message;
- with the device check forced true: ``play()`` encodes the part as WAV, gives it to a
  QMediaPlayer and calls ``play()`` on it. The time until that call returns is measured; whether
  sound then comes out needs a real device, which this machine has not (the player's
  ``playbackState`` is printed for what it is worth).

Medians over the clicks (the machine may be busy), and the process's CPU time from the click to
the drawn picture (both threads). Rows alternate so that every click decodes (a click on the
shown clip does nothing).
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_listen.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "QtAgg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wait(app, cond: Callable[[], bool], timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.0005)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("gave up waiting")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    from PyQt6.QtWidgets import QApplication

    from rave_gui.core.worker import wait_for_background
    from rave_gui.ui.widgets.listen_panel import ListenPanel

    fixture = Path(
        os.environ.get("RAVE_GUI_FIXTURES") or ROOT.parents[1] / "shared" / "fixtures" / "rave"
    )
    run = fixture / "run_110steps"
    app = QApplication.instance() or QApplication([sys.argv[0]])
    panel = ListenPanel()
    panel.resize(900, 560)
    panel.show()
    panel.set_run(str(run), 1, live=False)
    _wait(app, lambda: len(panel.clips) >= 2)
    clips = panel.clips
    print(
        f"run: {run.name}, {len(clips)} clips; clip of {clips[-1].seconds:.1f} s "
        f"({clips[-1].frames} frames at {clips[-1].sample_rate} Hz)"
    )
    view = panel.view
    assert view is not None

    def settle() -> None:  # outside the timing: pending paints done, the player stopped
        panel.stop()
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    def click(row: int, forced_device: bool) -> tuple[float, float, float, float, bool]:
        settle()
        draws = view.draws
        c0, t0 = time.process_time(), time.perf_counter()
        panel.clip_list.setCurrentRow(row)  # the click
        _wait(app, lambda: panel.audio is not None and panel.audio.clip == clips[row])
        t_decoded = time.perf_counter()
        panel._device = True if forced_device else None
        started = panel.play()  # as soon as the clip is there: the sound does not wait
        t_play = time.perf_counter()
        _wait(app, lambda: view.draws > draws)  # drawn (perhaps by the event loop, as in the app)
        t_drawn, cpu = time.perf_counter(), time.process_time() - c0
        return (t_decoded - t0, t_play - t0, t_drawn - t0, cpu, started)

    def other_row() -> int:  # never the clip shown: a click on it does nothing
        return 0 if panel.clip_list.currentRow() != 0 else len(clips) - 1

    for label, forced in (("no audio device (as here)", False), ("device check forced", True)):
        results = [click(other_row(), forced) for _ in range(args.repeat)]
        med = [statistics.median(r[k] for r in results) * 1000 for k in range(4)]
        print(
            f"click -> play(), {label}: decoded {med[0]:.1f} ms, play() returned "
            f"{med[1]:.1f} ms, drawn {med[2]:.1f} ms, CPU click -> drawn {med[3]:.1f} ms "
            f"(median of {args.repeat}; play started: {results[-1][4]}; "
            f"message: {panel.message.text()!r})"
        )
    if panel._player is not None:
        app.processEvents()
        print(f"player state after play(): {panel._player.playbackState().name}")
    panel.shutdown()
    wait_for_background(10_000)
    panel.close()
    panel.deleteLater()
    app.processEvents()


if __name__ == "__main__":
    main()
