"""FileWatch on real folders (inotify through libc), and its timed fallback."""

from __future__ import annotations

import threading
import time

import pytest

from rave_gui.backend.system import filewatch
from rave_gui.backend.system.filewatch import FileWatch

native = pytest.mark.skipif(
    not FileWatch().native, reason="no inotify here: the fallback is tested below"
)


def _later(seconds: float, fn) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        fn()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@native
def test_a_quiet_folder_sleeps_the_whole_timeout(tmp_path):
    with FileWatch([tmp_path]) as w:
        t0 = time.monotonic()
        assert w.wait(0.3) is False
        assert time.monotonic() - t0 >= 0.29


@native
def test_an_append_ends_the_wait_at_once(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("start\n")
    with FileWatch([tmp_path]) as w:
        assert w.wait(0.05) is False  # the write came before the watch

        def append() -> None:
            with open(log, "a") as f:
                f.write("step 1\n")

        th = _later(0.2, append)
        t0 = time.monotonic()
        assert w.wait(20.0) is True
        assert time.monotonic() - t0 < 10.0  # woken by the write, not the timeout
        th.join()
        w.wait(0.05)  # the close after the write (its own event, maybe not read yet)
        assert w.wait(0.05) is False  # nothing more: the events were all taken


@native
def test_new_subfolders_are_watched_as_they_appear(tmp_path):
    with FileWatch([tmp_path]) as w:
        sub = tmp_path / "runs" / "version_0"
        sub.mkdir(parents=True)
        assert w.wait(1.0) is True
        while w.wait(0.1):  # the creation of runs/ and then of version_0 (watched on the way)
            pass
        assert sub in w.watched
        (sub / "events.out.tfevents.1").write_bytes(b"\0" * 16)
        assert w.wait(5.0) is True


@native
def test_a_folder_made_later_is_watched_once_it_exists(tmp_path):
    run = tmp_path / "run"
    with FileWatch([run]) as w:
        assert w.watched == []
        assert w.wait(0.05) is False
        run.mkdir()
        assert w.wait(0.05) is True  # it appeared: a reason to look
        assert run in w.watched
        (run / "a.log").write_text("x")
        assert w.wait(5.0) is True


@native
def test_wake_ends_a_wait_from_another_thread(tmp_path):
    with FileWatch([tmp_path]) as w:
        th = _later(0.2, w.wake)
        t0 = time.monotonic()
        assert w.wait(20.0) is True
        assert time.monotonic() - t0 < 10.0
        th.join()


@native
def test_deep_trees_and_many_folders_are_bounded(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(filewatch.MAX_DEPTH + 3)])
    deep.mkdir(parents=True)
    with FileWatch([tmp_path]) as w:
        depths = [len(p.relative_to(tmp_path).parts) for p in w.watched]
        assert max(depths) == filewatch.MAX_DEPTH
    for i in range(filewatch.MAX_WATCHES + 10):
        (tmp_path / "wide" / str(i)).mkdir(parents=True)
    with FileWatch([tmp_path]) as w:
        assert len(w.watched) == filewatch.MAX_WATCHES


def test_without_inotify_a_wait_is_a_timed_sleep(tmp_path, monkeypatch):
    monkeypatch.setattr(filewatch._Inotify, "_tried", True)
    monkeypatch.setattr(filewatch._Inotify, "_libc", None)
    with FileWatch([tmp_path]) as w:
        assert not w.native and w.watched == []
        (tmp_path / "a.log").write_text("x")
        t0 = time.monotonic()
        assert w.wait(0.3) is False  # changes are not seen: the caller polls
        assert time.monotonic() - t0 >= 0.29
        th = _later(0.1, w.wake)
        assert w.wait(20.0) is True
        th.join()


def test_a_closed_watch_neither_waits_nor_fails(tmp_path):
    w = FileWatch([tmp_path])
    w.close()
    w.wake()
    assert w.wait(5.0) is False
    w.close()
