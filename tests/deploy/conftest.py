"""Fixtures for the deployment files: the repository root and the jobs/ helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def jobspec():
    """``jobs/_spec.py``, imported the way the job entrypoints import it."""
    jobs_dir = str(ROOT / "jobs")
    if jobs_dir not in sys.path:
        sys.path.insert(0, jobs_dir)
    import _spec

    return _spec
