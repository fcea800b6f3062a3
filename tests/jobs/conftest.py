"""Fixtures for the job entrypoints: the jobs/ helpers imported as the entrypoints import them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def jobs_dir() -> Path:
    return ROOT / "jobs"


@pytest.fixture(scope="session")
def jobspec(jobs_dir):
    """``jobs/_spec.py`` (the entrypoints put jobs/ on sys.path and import it as ``_spec``)."""
    if str(jobs_dir) not in sys.path:
        sys.path.insert(0, str(jobs_dir))
    import _spec

    return _spec


@pytest.fixture(scope="session")
def jobcli(jobspec):
    """``jobs/_cli.py``."""
    import _cli

    return _cli


@pytest.fixture
def write_spec(tmp_path):
    """``write_spec(text) -> path`` of a YAML spec in tmp_path."""
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
