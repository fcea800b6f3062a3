"""EmbedConfig: validation, YAML round trip, stable hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.exceptions import ConfigError


def test_defaults_are_the_paper_preset() -> None:
    cfg = EmbedConfig()
    assert cfg.grid == (64, 64, 64) and cfg.weights is None and cfg.threads == 1


def test_int_grid_expands_and_yaml_round_trips(tmp_path: Path) -> None:
    cfg = EmbedConfig(grid=32, margin_mm=3, weights="w.pth", pool_max=3)
    assert cfg.grid == (32, 32, 32)
    cfg.to_yaml(tmp_path / "embed.yaml")
    assert EmbedConfig.from_yaml(tmp_path / "embed.yaml") == cfg


@pytest.mark.parametrize("kwargs, text", [
    ({"grid": (4, 64, 64)}, "embed.grid: expected three integers >= 8"),
    ({"grid": (64, 64)}, "embed.grid: expected three integers"),
    ({"interpolation": "cubic"}, "embed.interpolation: expected one of"),
    ({"lift_depth": 100, "grid": 32}, r"embed.lift_depth: expected a value in \[1, 32\]"),
    ({"pool_min": 3, "pool_max": 2}, "embed.pool_max: expected >= pool_min"),
    ({"num_gpus_per_actor": 0}, "embed.num_gpus_per_actor"),
    ({"batch_size": 0}, "embed.batch_size"),
])
def test_bad_values_are_rejected(kwargs: dict, text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        EmbedConfig(**kwargs)


def test_unknown_key_suggests_the_right_one() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'margin_mm'"):
        EmbedConfig.from_dict({"margin_m": 2})


def test_hash_follows_content_not_scheduling() -> None:
    base = EmbedConfig()
    assert base.stable_hash() == EmbedConfig(batch_size=16, pool_max=4).stable_hash()
    assert base.stable_hash() != EmbedConfig(grid=32).stable_hash()
    assert base.stable_hash() != EmbedConfig(seed=1).stable_hash()
    # with weights, the checksum counts and the seed does not (a strict load overwrites every tensor)
    assert EmbedConfig(seed=1).stable_hash("ab") == EmbedConfig(seed=2).stable_hash("ab")
    assert base.stable_hash("ab") != base.stable_hash("cd")
