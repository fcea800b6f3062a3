"""Logging set-up for the CLI (the library itself never attaches handlers)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from alnm_ray.cli._redact import RedactFilter


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({
            "time": self.formatTime(record), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
        })


def configure_logging(level: str = "INFO", *, json_lines: bool = False, identifiers: bool = False) -> None:
    """Console logging for the ``alnm_ray`` logger on stderr.

    Args:
        level: Console level.
        json_lines: One JSON object per line instead of text.
        identifiers: Keep image paths and patient identifiers in console lines
            (they are redacted by default; the DEBUG run log always keeps them).
    """
    root = logging.getLogger("alnm_ray")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        if getattr(handler, "_alnm_console", False):
            root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console._alnm_console = True  # type: ignore[attr-defined]
    console.setLevel(level)
    console.setFormatter(_JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(message)s"))
    if not identifiers:
        console.addFilter(RedactFilter())
    root.addHandler(console)


def add_run_log(run_dir: str | Path) -> Path:
    """Also write DEBUG logs to ``RUN_DIR/alnm-ray.log``; returns the path."""
    path = Path(run_dir) / "alnm-ray.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.getLogger("alnm_ray").addHandler(handler)
    return path
