"""Bounds on one SQL query: wall-clock time, memory, and Ctrl-C.

DuckDB runs a query in C++ threads that Python's SIGINT handling cannot reach,
and by default it may use 80 % of the machine's memory.  :func:`run_bounded`
runs the query on a worker thread while the calling thread watches it:

* after ``timeout_s`` seconds it calls ``connection.interrupt()``;
* DuckDB's own ``memory_limit`` (set by :class:`StoreSQL`) makes its
  operators spill or fail; on Linux the watcher also interrupts the query
  when the process's resident memory grows by more than the limit plus a
  margin (:func:`watch_bound`), since DuckDB does not count every allocation
  (one huge ``repeat()`` string, for instance);
* Ctrl-C (``KeyboardInterrupt`` in the watching thread) interrupts the query
  and re-raises ``KeyboardInterrupt`` once DuckDB has stopped.

DuckDB checks for an interrupt between vectors of rows, so a query stops
within a fraction of a second; a single expression building one value (one
``repeat('x', 10**9)``) runs to its end first.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from alnm_ray.exceptions import ConfigError, StoreError

#: Default ``--timeout`` in seconds.
DEFAULT_TIMEOUT_S = 300.0
#: Default memory limit as a fraction of physical memory.
DEFAULT_MEMORY_FRACTION = 0.25
#: Smallest memory limit accepted (DuckDB needs a few buffers to run at all).
MIN_MEMORY = 16 * 2**20
#: How often the watcher looks at the query (seconds).
POLL_S = 0.05
#: How long to wait for DuckDB to stop after an interrupt before giving up on it (seconds).
STOP_WAIT_S = 10.0
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6,
          "g": 10**9, "t": 10**12}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*|%)\s*$", re.IGNORECASE)


def total_memory() -> int | None:
    """Physical memory of this machine in bytes, or ``None`` when unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_limit() -> int:
    """:data:`DEFAULT_MEMORY_FRACTION` of physical memory (4 GB when unknown)."""
    total = total_memory()
    return max(MIN_MEMORY, int(total * DEFAULT_MEMORY_FRACTION)) if total else 4 * 10**9


def parse_size(text: str | int) -> int:
    """Bytes named by ``"2GB"``, ``"512MiB"``, ``"25%"`` (of physical memory) or a number.

    Raises:
        ConfigError: Not a size, or under :data:`MIN_MEMORY`.

    Example:
        >>> parse_size("2GB"), parse_size("1.5GiB"), parse_size(1024 ** 3)
        (2000000000, 1610612736, 1073741824)
    """
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(str(text))
        unit = match.group(2).lower() if match else None
        if match is None or (unit not in _UNITS and unit != "%"):
            raise ConfigError(
                f"--memory-limit: expected a size such as 2GB, 512MB, 1.5GiB or 25% (of this "
                f"machine's memory); got {text!r}. Write a number followed by a unit.")
        number = float(match.group(1))
        if unit == "%":
            total = total_memory()
            if total is None or not 0 < number <= 100:
                raise ConfigError(f"--memory-limit: expected a percentage in (0, 100] on a machine "
                                  f"whose memory is known; got {text!r}. Give a size such as 2GB.")
            value = int(total * number / 100)
        else:
            value = int(number * _UNITS[unit])
    if value < MIN_MEMORY:
        raise ConfigError(f"--memory-limit: expected at least {human(MIN_MEMORY)}; got {text!r} "
                          f"({human(value)}). Give e.g. 1GB.")
    return value


def human(n: int) -> str:
    """``1500000000`` -> ``"1.5 GB"``."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class SQLLimits:
    """Bounds on each query of a :class:`~alnm_ray.store.StoreSQL` session.

    Attributes:
        timeout_s: Wall-clock seconds a query may run; ``None`` for no limit.
        memory_limit: Bytes DuckDB may use (and the process may grow by);
            ``None`` for :func:`default_memory_limit`.
    """

    timeout_s: float | None = DEFAULT_TIMEOUT_S
    memory_limit: int | None = None

    def __post_init__(self) -> None:
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"--timeout: expected a positive number of seconds; got "
                              f"{self.timeout_s!r}. Give e.g. --timeout 600.")
        if self.memory_limit is not None:
            parse_size(self.memory_limit)

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes."""
        return self.memory_limit if self.memory_limit is not None else default_memory_limit()


def watch_bound(memory_limit: int) -> int:
    """Growth of the process's resident memory at which the watcher stops a query.

    The limit plus half of it, at least 256 MiB: DuckDB's buffers stay within
    the limit, the margin covers its threads, Arrow's scans and the allocator.
    """
    return memory_limit + max(memory_limit // 2, 256 * 2**20)


def _rss() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def timeout_message(limits: SQLLimits) -> str:
    """The four-part message of a query stopped by ``--timeout``."""
    return (f"SQL: the query ran longer than --timeout {limits.timeout_s:g} s and was stopped; "
            "expected it to finish within that time. Raise --timeout (e.g. --timeout "
            f"{max(600, int((limits.timeout_s or 0) * 4))}), or make the query cheaper (filter "
            "rows, select fewer columns, avoid cross joins).")


def memory_message(limits: SQLLimits, cause: str) -> str:
    """The four-part message of a query stopped by ``--memory-limit``."""
    return (f"SQL: the query needed more memory than --memory-limit {human(limits.memory_bytes)} "
            f"allows ({cause}); it was stopped. Raise --memory-limit (e.g. --memory-limit "
            f"{max(2, 2 * limits.memory_bytes // 10**9)}GB), or make the query smaller (filter "
            "rows, fewer columns, LIMIT, no huge strings or lists).")


def run_bounded(con: duckdb.DuckDBPyConnection, run: Callable[[], Any], limits: SQLLimits) -> Any:
    """Call ``run`` (a DuckDB query on ``con``) on a worker thread, within ``limits``.

    Args:
        con: The connection ``run`` uses (to interrupt it).
        run: The query, e.g. ``lambda: con.sql(text).to_arrow_table()``.
        limits: Timeout and memory bound.

    Returns:
        What ``run`` returned.

    Raises:
        StoreError: The query ran past the timeout or the memory bound.
        KeyboardInterrupt: Ctrl-C, once DuckDB has stopped the query.
        duckdb.Error: Any other failure of the query (the caller words it).
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["result"] = run()
        except BaseException as err:  # noqa: BLE001 - handed to the watching thread
            box["error"] = err
        finally:
            done.set()

    baseline, bound = _rss(), watch_bound(limits.memory_bytes)
    start = time.monotonic()
    worker = threading.Thread(target=work, name="alnm-ray-sql", daemon=True)
    worker.start()
    reason = None
    try:
        while not done.wait(POLL_S):
            if reason is not None:
                continue
            if limits.timeout_s is not None and time.monotonic() - start > limits.timeout_s:
                reason = "timeout"
            else:
                rss = _rss()
                if baseline is not None and rss is not None and rss - baseline > bound:
                    reason = f"the process grew by {human(rss - baseline)}"
            if reason is not None:
                con.interrupt()
    except KeyboardInterrupt:
        con.interrupt()
        done.wait(STOP_WAIT_S)
        raise
    if reason == "timeout":
        raise StoreError(timeout_message(limits)) from box.get("error")
    if reason is not None:
        raise StoreError(memory_message(limits, reason)) from box.get("error")
    error = box.get("error")
    if isinstance(error, duckdb.OutOfMemoryException) or (
            isinstance(error, duckdb.Error) and "max_temp_directory_size" in str(error)):
        raise StoreError(memory_message(limits, str(error).splitlines()[0][:160])) from error
    if error is not None:
        raise error
    return box["result"]
