"""Fixtures for the synthetic-cohort tests: one tiny cohort shared by the module."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alnm_ray.synth import SynthConfig, generate_cohort

#: Tiny but complete: 2 centres, repeat readers for 2 of 6 patients.
TINY = dict(patients=6, centers=2, seed=20241482, n_repeat_readers=2)


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, keyed by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tiny_config() -> SynthConfig:
    return SynthConfig(**TINY)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory, tiny_config: SynthConfig):
    """A 6-patient cohort written once per session (serial)."""
    out = tmp_path_factory.mktemp("synth") / "tiny"
    info = generate_cohort(out, tiny_config, parallel="serial", quiet=True)
    return info
