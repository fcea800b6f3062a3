"""Optional, silenceable progress reporting on stderr.

Call sites never branch on ``quiet``: they get a :class:`NullProgress` when
progress is off.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


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
        min_interval: Seconds between redraws.
    """

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None,
                 min_interval: float = 0.5) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self.done = 0
        self.info: dict[str, object] = {}
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, n: int = 1, **info: object) -> None:
        self.done += n
        self.info.update(info)
        now = time.monotonic()
        if now - self._last >= self.min_interval or (self.total and self.done >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        pct = f" {100 * self.done / self.total:3.0f}%" if self.total else ""
        total = f"/{self.total}" if self.total else ""
        extra = "".join(f"  {k}={v}" for k, v in self.info.items())
        self.stream.write(f"\r{self.label}  {self.done}{total}{pct}  {now - self._start:.1f} s{extra}")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()


def progress(total: int | None, label: str, *, quiet: bool = False) -> NullProgress:
    """Return a progress bar, or a silent one when ``quiet``."""
    return NullProgress() if quiet else Progress(total, label)
