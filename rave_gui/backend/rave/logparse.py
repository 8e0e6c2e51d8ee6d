"""Turn the raw output bytes of the ``rave`` command line into log, progress and metric events."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "Event",
    "Failure",
    "LogLine",
    "LogParser",
    "Metrics",
    "Outcome",
    "Progress",
    "is_metric_key",
    "parse_bytes",
    "parse_progress",
    "parse_value",
]


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of text, cleaned (no ANSI codes, no trailing whitespace or line break)."""

    text: str
    level: str  # "info" | "warning" | "error"


@dataclass(frozen=True, slots=True)
class Progress:
    """One tqdm / Lightning progress bar update."""

    text: str  # the cleaned bar text
    phase: str  # "train" | "validation" | "other"
    epoch: int | None
    batch: int | None  # the X of X/Y, or the N of "Nit"
    total: int | None  # the Y of X/Y
    rate: float | None  # iterations per second
    elapsed: float | None  # seconds
    remaining: float | None  # seconds
    postfix: dict[str, float]  # numeric key=value pairs of the postfix, v_num excluded


@dataclass(frozen=True, slots=True)
class Metrics:
    """Named numeric values read from one line; keys lower-cased, step and epoch apart.

    ``values`` is empty when the line gave only a step or an epoch (it came as a LogLine too)."""

    values: dict[str, float]
    step: int | None
    epoch: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a command ended: "completed", "interrupted" or "exported" (text: the model path)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A Python traceback ended; reason is its last exception line."""

    reason: str


Event = LogLine | Progress | Metrics | Outcome | Failure

# --- patterns ------------------------------------------------------------------------------

# CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL or ESC \), two-character escapes.
# Removed line by line, after splitting; a sequence cut by the end of a read stays in the
# unterminated tail until the rest arrives.
_ANSI_RE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\r\n]*(?:\x07|\x1b\\)|\x1b[@-Z\\^_]"
)

_NUM = (
    r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
    r"|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
)
_NUM_RE = re.compile(_NUM)

# key, separator, value. The key may not start inside a word or right after "-", "." or "/"
# (so "--max_steps=40" is not a metric); the value may not run on into a word or a decimal.
_PAIR_RE = re.compile(
    rf"(?<![\w.\-/])([A-Za-z_][\w.\-/]*)(=|[ \t]*[:=][ \t]*|[ \t]+)({_NUM})(?![\w%]|\.\d)"
)

# absl log prefix: I1122 21:22:13.172187 ...
_ABSL_RE = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d\d")

# The end of a bar, matched at its last "[": "6/18 [00:06<00:12,  1.01s/it, v_num=0]" (the
# count before the "[" is checked by lookbehind). Group 1 is set when the bar ends right there,
# with no postfix besides v_num: a collapsible bar.
_BAR_TAIL_RE = re.compile(
    rb"(?:(?<=\d)|(?<=\d )|(?<=\dit)|(?<=\dit ))"
    rb"\[[\d:]+(?:<[\d:?]+)?, *(?:\?|[\d.]+[kMGTPEZY]?)(?:it/s|s/it)(?:, v_num=\d+)?(\]\Z)?"
)

# A whole bar: description, optional "33%|███▎      |", "6/18" or "120it", "[inner]".
_BAR_RE = re.compile(
    r"(?P<desc>.*?)"
    r"(?:(?P<pct>\d{1,3})%\|[^|]*\|[ \t]*)?"
    r"(?P<n>\d+)(?:/(?P<total>\d+)|it)?"
    r" ?\[(?P<inner>[\d:]+(?:<[\d:?]+)?, *(?:\?|[\d.]+[kMGTPEZY]?)(?:it/s|s/it)[^\[\]]*)\]"
)
_RATE_RE = re.compile(r"(\?|[\d.]+)([kMGTPEZY]?)(it/s|s/it)")
_EPOCH_RE = re.compile(r"Epoch (\d+)")

_SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24}

_STEP_KEYS = frozenset({"step", "iteration", "iter", "global_step"})
_METRIC_KEYS = frozenset(
    {"loss", "val_loss", "validation", "epoch", "lr", "learning_rate", *_STEP_KEYS}
)

_TB_HEAD = "Traceback (most recent call last)"
_TB_CHAIN = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
_COMPLETED = "Trainer.fit` stopped"
_INTERRUPTED = "Detected KeyboardInterrupt"
_EXPORTED = "all good ! model exported to "

_MAX_TAIL = 1 << 20  # an unterminated segment longer than this is taken as a whole line

# traceback states
_NO_TB = 0
_TB_FRAMES = 1  # after "Traceback (most recent call last):", before the exception line
_TB_EXC = 2  # after the exception line
_TB_CHAINED = 3  # after "During handling of the above exception..."

_CLOSE = ord("]")
_PIPE = ord("|")
_DASH = ord("-")
_SPACE = ord(" ")
_ESC = 0x1B  # an int: `_ESC in data` is a memchr, much faster than `b"\x1b" in data`


# --- values --------------------------------------------------------------------------------


def parse_value(text: str) -> float | None:
    """Read a number: "0.5", "1e-4", "NaN", "-inf", "Infinity" ...; None if not a number."""
    s = text.strip()
    if not _NUM_RE.fullmatch(s):
        return None
    return float(s)


def is_metric_key(key: str) -> bool:
    """Whether a key is metric-like enough for the ``key: value`` and ``key value`` forms."""
    k = key.lower()
    return (
        k in _METRIC_KEYS
        or k.endswith("loss")
        or k.endswith("_lr")
        or k.startswith("val_")
        or k.startswith("train_")
    )


def _seconds(text: str) -> float | None:
    """ "00:06" -> 6.0, "1:02:03" -> 3723.0, "?" -> None."""
    total = 0.0
    for part in text.split(":"):
        if not part.isdigit():
            return None
        total = total * 60.0 + int(part)
    return total


def _rate(text: str) -> float | None:
    m = _RATE_RE.match(text)
    if m is None or m.group(1) == "?":
        return None
    try:
        v = float(m.group(1)) * _SI[m.group(2)]
    except ValueError:
        return None
    if m.group(3) == "it/s":
        return v
    return 1.0 / v if v > 0.0 else None


def parse_progress(text: str) -> tuple[Progress, str] | None:
    """Parse a bar at the start of ``text``: (Progress, text glued after the bar) or None."""
    m = _BAR_RE.match(text)
    if m is None:
        return None
    desc = m.group("desc").strip()
    epoch = None
    if desc.startswith("Epoch "):
        phase = "train"
        em = _EPOCH_RE.match(desc)
        epoch = int(em.group(1)) if em else None
    elif desc.startswith(("Validation", "Sanity Checking")):
        phase = "validation"
    elif desc.startswith("Training"):
        phase = "train"
    else:
        phase = "other"
    total_s = m.group("total")
    parts = m.group("inner").split(",")
    elapsed_s, _, remaining_s = parts[0].strip().partition("<")
    postfix: dict[str, float] = {}
    for part in parts[2:]:
        key, eq, value = part.strip().partition("=")
        if eq and key and key != "v_num":
            v = parse_value(value)
            if v is not None:
                postfix[key.lower()] = v
    return (
        Progress(
            text=text[: m.end()],
            phase=phase,
            epoch=epoch,
            batch=int(m.group("n")),
            total=int(total_s) if total_s is not None else None,
            rate=_rate(parts[1].strip()),
            elapsed=_seconds(elapsed_s),
            remaining=_seconds(remaining_s) if remaining_s else None,
            postfix=postfix,
        ),
        text[m.end() :].strip(),
    )


def _strip_ansi(t: bytes) -> bytes:
    """Remove ANSI escape sequences, and any lone or unfinished escape, from one line."""
    if t.endswith(b"\x1b[A"):  # tqdm's cursor-up, by far the most common
        t = t[:-3]
        if _ESC not in t:
            return t
    t = _ANSI_RE.sub(b"", t)
    return t.replace(b"\x1b", b"") if _ESC in t else t


def _is_bar(t: bytes) -> bool:
    """Fast check that a line ending with "]" is a bar (its last "[...]" looks like tqdm's)."""
    return _BAR_TAIL_RE.match(t, t.rfind(b"[")) is not None


def _progress(bar: bytes) -> Progress:
    text = bar.decode("utf-8", "replace")
    parsed = parse_progress(text)
    if parsed is None:  # looked like a bar's end, but its start is not tqdm's
        return Progress(text, "other", None, None, None, None, None, None, {})
    return parsed[0]


def _metrics(t: str) -> Metrics | None:
    values: dict[str, float] = {}
    step: int | None = None
    epoch: int | None = None
    counter = False  # a step or an epoch given with ":" or "=" ("step 100" may be prose)
    for m in _PAIR_RE.finditer(t):
        key, sep, raw = m.groups()
        k = key.lower()
        if sep != "=" and not is_metric_key(k):
            # Keras-style fields ("187/256 - loss: 0.34 - acc: 0.89"): any "- key: value"
            start = m.start()
            if ":" not in sep or start < 2 or not t.startswith("- ", start - 2):
                continue
        v = float(raw)
        if k in _STEP_KEYS or k == "epoch":
            if math.isfinite(v) and v == int(v):
                if k == "epoch":
                    epoch = int(v)
                else:
                    step = int(v)
                if not sep.isspace():
                    counter = True
        else:
            values[k] = v
    if not values and not counter:
        return None
    return Metrics(values=values, step=step, epoch=epoch)


def _level(t: str) -> str:
    c = t[0]
    if c in "EWF" and _ABSL_RE.match(t):
        if c == "W":
            return "warning"
        if c == "E" and "Path not found" in t:
            return "info"  # gin's search for its config file: normal noise
        return "error"
    if "Error:" in t or "ERROR" in t or "FATAL" in t or _TB_HEAD in t:
        return "error"
    if "Warning" in t or "WARNING" in t:
        return "warning"
    return "info"


# A frozen dataclass's __init__ sets each field through object.__setattr__, which costs
# about as much as the rest of a plain line's handling; the hot path fills the slots directly.
_new = object.__new__
_set_text = vars(LogLine)["text"].__set__
_set_level = vars(LogLine)["level"].__set__


def _info(text: str) -> LogLine:
    line = _new(LogLine)
    _set_text(line, text)
    _set_level(line, "info")
    return line


# --- the parser ----------------------------------------------------------------------------


class LogParser:
    """Incremental parser of one output stream (stdout or stderr): bytes in, events out.

    Fed the bytes of the stream as they arrive, it returns the events they complete:

    - :class:`LogLine`: a line of text with a level ("info", "warning", "error");
    - :class:`Progress`: a tqdm / Lightning progress bar update;
    - :class:`Metrics`: named numbers on a line (``step=100 loss=0.25``, ``loss: 0.3``, ...);
    - :class:`Outcome`: how a command ended ("completed", "interrupted", "exported");
    - :class:`Failure`: the last exception line of a Python traceback, once the traceback ended.

    Rules:

    - Lines are split on ``\\r`` and ``\\n`` (``\\r\\n`` is one break); blank segments are dropped,
      trailing whitespace is removed, ANSI escape sequences are removed, and each line is decoded
      as UTF-8 with invalid bytes replaced. Text glued to the end of a bar (``...it/s]Computing``)
      is split off into its own line.
    - RAVE rewrites its bar twice a step, so a run of consecutive bar updates inside one
      :meth:`LogParser.feed` collapses into the latest one; a bar whose postfix carries a metric
      value (``loss=0.31``; ``v_num`` does not count) is always emitted, and a bar equal to the bar
      before it is never emitted again. The unterminated tail of a read is emitted at once when it
      is a complete bar, and not again when its terminator arrives.
    - Table rows (lines starting with ``|``, like Lightning's profiler report) and rules (lines
      of ``-``) are plain info text; they are never searched for levels or metrics. Inside a
      traceback they are traceback lines like any other.
    - Progress bars must use tqdm's default unit ("it"): ``X/Y [...]`` or ``Nit [...]``.
    - Metrics come from info-level lines only (a warning such as ``Trainer(log_every_n_steps=50)``
      is not a metric report, nor is an outcome line such as ``max_steps=40`` reached).
      ``key=value`` (no spaces around ``=``) accepts any identifier-like key; ``key = value``,
      ``key: value`` and ``key value`` accept only metric-like keys (see :func:`is_metric_key`).
      Keras-style fields (``187/256 - loss: 0.34 - acc: 0.89``) accept any key after ``- ``.
      A metrics line is returned as :class:`Metrics` only, not also as a :class:`LogLine`.
    - A line whose only numbers are a step or an epoch given with ``:`` or ``=``
      (``Training step: 5000``, ``Epoch: 10 completed``) is returned as its :class:`LogLine`
      followed by a :class:`Metrics` with no values that carries the step or the epoch;
      ``step 100`` or ``Epoch 3`` (no separator: may be prose) stays a :class:`LogLine` only.
    - An outcome line is returned as its :class:`LogLine` followed by the :class:`Outcome`.
    - Traceback lines are returned as error :class:`LogLine` events; the :class:`Failure` follows
      when the traceback has ended (next line that is not part of it, a progress bar, or flush).
    """

    __slots__ = ("_exc", "_last_bar", "_tail", "_tb", "_tb_last")

    def __init__(self) -> None:
        self._tail = b""  # raw bytes of the unterminated last segment
        self._last_bar: bytes | None = None  # last bar seen, for duplicate suppression
        self._tb = _NO_TB
        self._exc: str | None = None  # last exception line of the current traceback
        self._tb_last = ""  # last line of the current traceback

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Parse more bytes; return the events they complete (never raises on any bytes)."""
        if not data:
            return []
        if not isinstance(data, bytes):
            data = bytes(data)
        out: list[Event] = []
        self._process(data, out, False)
        return out

    def flush(self) -> list[Event]:
        """End of stream: the unfinished tail, a pending traceback's Failure. Then resets."""
        out: list[Event] = []
        if self._tail:
            self._process(b"", out, True)
        self._finish_tb(out)
        self._last_bar = None
        return out

    # -- internals --

    def _process(self, data: bytes, out: list[Event], final: bool) -> None:
        segments = data.replace(b"\r", b"\n").split(b"\n")
        esc = _ESC in data
        if self._tail:  # the unterminated segment of the previous reads starts this one
            esc = esc or _ESC in self._tail
            segments[0] = self._tail + segments[0]
        tail = b""
        if not final:
            tail = segments.pop()
            if len(tail) > _MAX_TAIL:
                segments.append(tail)
                tail = b""
        # raw: an escape sequence or a UTF-8 character may be cut by the end of the read
        self._tail = tail

        pending: bytes | None = None  # latest collapsible bar of the current run
        last = self._last_bar
        tb = self._tb
        bar_match = _BAR_TAIL_RE.match
        append = out.append
        new, set_text, set_level = _new, _set_text, _set_level
        for t in segments:
            if t == last:  # RAVE writes every update twice
                if tb >= _TB_EXC:
                    self._bar_ends_tb(pending, out)
                    pending = None
                    tb = _NO_TB
                continue
            if not t:
                continue
            if esc and _ESC in t:
                t = _strip_ansi(t)
                if not t:
                    continue
            c = t[-1]
            if c <= _SPACE:
                t = t.rstrip()
                if not t:
                    continue
                c = t[-1]
            if c == _CLOSE:
                # fast path: a bar; only the last of a run of collapsible bars is parsed
                if t == last:  # the same bar, once cleaned
                    if tb >= _TB_EXC:
                        self._bar_ends_tb(pending, out)
                        pending = None
                        tb = _NO_TB
                    continue
                m = bar_match(t, t.rfind(b"["))
                if m is not None:
                    if tb >= _TB_EXC:
                        self._bar_ends_tb(pending, out)
                        pending = None
                        tb = _NO_TB
                    last = t
                    if m.lastindex:
                        pending = t
                    else:
                        p = _progress(t)
                        if p.postfix:
                            pending = None
                            append(p)
                        else:
                            pending = t
                    continue
            c = t[0]
            if not tb and (c == _PIPE or (c == _DASH and not t.strip(b"-"))):
                # a table row or rule (model summary, profiler report): plain text
                if pending is not None:
                    append(_progress(pending))
                    pending = None
                line = new(LogLine)
                try:
                    set_text(line, t.decode())
                except UnicodeDecodeError:
                    set_text(line, t.decode("utf-8", "replace"))
                set_level(line, "info")
                append(line)
                continue
            try:
                text = t.decode()
            except UnicodeDecodeError:
                text = t.decode("utf-8", "replace")
            if "it/s" in text or "s/it" in text:
                parsed = parse_progress(text)
                if parsed is not None:  # a bar with text glued after it
                    if tb >= _TB_EXC:
                        self._bar_ends_tb(pending, out)
                        pending = None
                        tb = _NO_TB
                    bar = parsed[0].text.encode("utf-8", "replace")
                    if bar != last:
                        last = bar
                        pending = None
                        append(parsed[0])
                    text = parsed[1]
                    if not text:
                        continue
            if pending is not None:
                append(_progress(pending))
                pending = None
            self._line(text, out)
            tb = self._tb

        if tail:
            t = (_strip_ansi(tail) if esc else tail).rstrip()
            if t and t[-1] == _CLOSE and t != last and _is_bar(t):
                last = t
                pending = None  # superseded by the tail
                out.append(_progress(t))
        if pending is not None:
            out.append(_progress(pending))
        self._last_bar = last

    def _line(self, t: str, out: list[Event]) -> None:
        """A finished line that is not a progress bar."""
        tb = self._tb
        if tb:
            indented = t[0] in " \t"
            if tb == _TB_FRAMES:
                self._tb_last = t
                if not indented:
                    self._exc = t
                    self._tb = _TB_EXC
                out.append(LogLine(t, "error"))
                return
            if t.startswith(_TB_HEAD):
                self._tb = _TB_FRAMES
                self._tb_last = t
                out.append(LogLine(t, "error"))
                return
            if t.startswith(_TB_CHAIN):
                self._tb = _TB_CHAINED
                out.append(LogLine(t, "error"))
                return
            if tb == _TB_EXC and indented:  # more of the exception's message
                out.append(LogLine(t, "error"))
                return
            self._finish_tb(out)
        if t.startswith(_TB_HEAD):
            self._tb = _TB_FRAMES
            self._exc = None
            self._tb_last = t
            out.append(LogLine(t, "error"))
            return
        level = _level(t)
        if level == "info":
            if _COMPLETED in t:
                out.append(LogLine(t, level))
                out.append(Outcome("completed", t))
                return
            if _INTERRUPTED in t:
                out.append(LogLine(t, level))
                out.append(Outcome("interrupted", t))
                return
            i = t.find(_EXPORTED)
            if i >= 0:
                out.append(LogLine(t, level))
                out.append(Outcome("exported", t[i + len(_EXPORTED) :].strip()))
                return
            low = t.lower()
            if (
                "=" in t
                or "loss" in low
                or "lr" in low
                or "val" in low
                or "train_" in low
                or "learning_rate" in low
                or "step" in low
                or "epoch" in low
                or "iter" in low
                or " - " in t
            ):
                m = _metrics(t)
                if m is not None:
                    if not m.values:  # only a step or an epoch: the line shows as it is
                        out.append(_info(t))
                    out.append(m)
                    return
            out.append(_info(t))
            return
        out.append(LogLine(t, level))

    def _bar_ends_tb(self, pending: bytes | None, out: list[Event]) -> None:
        """A bar after a traceback's exception line ends the traceback."""
        if pending is not None:
            out.append(_progress(pending))
        self._finish_tb(out)

    def _finish_tb(self, out: list[Event]) -> None:
        if self._tb:
            out.append(Failure(self._exc or self._tb_last.strip()))
            self._tb = _NO_TB
            self._exc = None
            self._tb_last = ""


def parse_bytes(data: bytes) -> list[Event]:
    """Parse a whole output at once: a fresh parser, feed and flush."""
    parser = LogParser()
    return parser.feed(data) + parser.flush()
