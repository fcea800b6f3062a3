"""Actor pool sizing: GPU actors only where GPUs exist, CPU pools leave room."""

from __future__ import annotations

import pytest

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.resources import plan_actors
from alnm_ray.exceptions import ConfigError


def test_cpu_cluster_gets_cpu_actors_leaving_one_cpu() -> None:
    plan = plan_actors(EmbedConfig(), nodes=[{"CPU": 2.0}])
    assert (plan.kind, plan.num_gpus, plan.min_size, plan.max_size) == ("cpu", 0.0, 1, 1)
    assert plan_actors(EmbedConfig(num_cpus_per_actor=2), nodes=[{"CPU": 8.0}, {"CPU": 8.0}]).max_size == 7


def test_gpu_cluster_gets_gpu_actors_sized_by_gpus() -> None:
    nodes = [{"CPU": 1.0}, {"CPU": 4.0, "GPU": 2.0}]
    plan = plan_actors(EmbedConfig(num_gpus_per_actor=0.5), nodes=nodes)
    assert (plan.kind, plan.num_gpus, plan.max_size) == ("gpu", 0.5, 4)
    assert plan_actors(EmbedConfig(pool_max=3), nodes=nodes).max_size == 2


def test_pool_never_exceeds_the_batches() -> None:
    plan = plan_actors(EmbedConfig(pool_min=3), nodes=[{"CPU": 16.0}], n_batches=2)
    assert (plan.min_size, plan.max_size) == (2, 2)


def test_impossible_requests_fail_instead_of_hanging() -> None:
    with pytest.raises(ConfigError, match="expected a node with 2 GPU"):
        plan_actors(EmbedConfig(num_gpus_per_actor=2), nodes=[{"CPU": 4.0, "GPU": 1.0}])
    with pytest.raises(ConfigError, match="expected a node with 4 CPU"):
        plan_actors(EmbedConfig(num_cpus_per_actor=4), nodes=[{"CPU": 2.0}])
