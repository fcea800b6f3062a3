"""Optional, silenceable progress reporting on stderr.

Call sites never branch on ``quiet``: they get a :class:`NullProgress` when
progress is off.  On a terminal the bar redraws one line in place; when the
stream is not a terminal (a log file, CI, a pipe) it writes plain lines, at
most one every :data:`PLAIN_INTERVAL` seconds, so logs carry no carriage
returns and stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between plain progress lines when the stream is not a terminal.
PLAIN_INTERVAL = 10.0


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False


class NullProgress:
    """A progress bar that shows nothing."""

    def update(self, n: int = 1, **info: object) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        pass

    def __enter__(self) -> "NullProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress(NullProgress):
    """A one-line text progress bar: ``label  12/40  30%  3.1 s  failed=1``.

    Args:
        total: Number of items expected (``None`` when unknown).
        label: What is being counted.
        stream: Where to write (stderr by default).
        min_interval: Seconds between redraws on a terminal (plain lines
            elsewhere come at most every :data:`PLAIN_INTERVAL` seconds).
    """

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None,
                 min_interval: float = 0.5) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream)
        self.min_interval = min_interval if self.tty else max(min_interval, PLAIN_INTERVAL)
        self.done = 0
        self.info: dict[str, object] = {}
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, n: int = 1, **info: object) -> None:
        self.done += n
        self.info.update(info)
        now = time.monotonic()
        finished = bool(self.total and self.done >= self.total)
        if now - self._last >= self.min_interval or (finished and self.tty):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        pct = f" {100 * self.done / self.total:3.0f}%" if self.total else ""
        total = f"/{self.total}" if self.total else ""
        extra = "".join(f"  {k}={v}" for k, v in self.info.items())
        line = f"{self.label}  {self.done}{total}{pct}  {now - self._start:.1f} s{extra}"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


def progress(total: int | None, label: str, *, quiet: bool = False) -> NullProgress:
    """Return a progress bar, or a silent one when ``quiet``."""
    return NullProgress() if quiet else Progress(total, label)
