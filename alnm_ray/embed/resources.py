"""Sizing the embedding actor pool from what the Ray cluster declares.

Two traps shape this module (both reproduced on Ray 2.60, see
``notes/ray-probes.md``): a ``num_gpus`` request on a cluster without GPU
resources waits forever, and an actor pool that takes every CPU starves the
preparing tasks and deadlocks the pipeline.  So GPUs are requested only when
the cluster declares some, and a CPU pool leaves one CPU for the tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.exceptions import ConfigError


@dataclass(frozen=True)
class ActorPlan:
    """Resources of each embedding actor and the pool's size.

    Attributes:
        kind: ``"gpu"`` (actors request GPUs) or ``"cpu"``.
        num_cpus: CPUs each actor reserves.
        num_gpus: GPUs each actor reserves (0 for CPU actors).
        min_size: Smallest pool.
        max_size: Largest pool.
    """

    kind: str
    num_cpus: float
    num_gpus: float
    min_size: int
    max_size: int


def node_resources() -> list[dict[str, float]]:
    """Resources of every alive node of the running cluster."""
    import ray

    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


def plan_actors(config: EmbedConfig, *, n_batches: int | None = None,
                nodes: list[dict[str, float]] | None = None) -> ActorPlan:
    """Choose GPU or CPU actors and the pool size.

    Args:
        config: ``num_cpus_per_actor``, ``num_gpus_per_actor``, ``pool_min``, ``pool_max``.
        n_batches: Batches to run; the pool never grows past it (``None``: no cap).
        nodes: Per-node resources (default: read from the running cluster).

    Returns:
        An :class:`ActorPlan`.  GPU actors when any node declares a GPU:
        pool up to ``floor(GPUs / num_gpus_per_actor)``.  Otherwise CPU
        actors: pool up to ``floor(CPUs / num_cpus_per_actor) - 1`` (at least 1).
        ``pool_max`` caps either.

    Raises:
        ConfigError: When no node can host one actor (the request would hang).

    Example:
        >>> plan_actors(EmbedConfig(), nodes=[{"CPU": 4.0}]).max_size
        3
        >>> plan_actors(EmbedConfig(num_gpus_per_actor=0.5), nodes=[{"CPU": 8.0, "GPU": 1.0}]).max_size
        2
    """
    nodes = node_resources() if nodes is None else nodes
    cpus_needed = float(config.num_cpus_per_actor)
    gpus_total = sum(n.get("GPU", 0.0) for n in nodes)
    if gpus_total > 0:
        gpus_needed = float(config.num_gpus_per_actor)
        fits = [n for n in nodes if n.get("GPU", 0.0) >= gpus_needed and n.get("CPU", 0.0) >= cpus_needed]
        if not fits:
            best = max(nodes, key=lambda n: n.get("GPU", 0.0))
            raise ConfigError(
                f"embed actors: expected a node with {gpus_needed:g} GPU(s) and {cpus_needed:g} CPU(s) per actor; "
                f"the largest GPU node has {best.get('GPU', 0.0):g} GPU(s) and {best.get('CPU', 0.0):g} CPU(s). "
                "Lower --num-gpus-per-actor / --num-cpus-per-actor."
            )
        slots = sum(int(math.floor(n.get("GPU", 0.0) / gpus_needed + 1e-9)) for n in fits)
        kind, num_gpus = "gpu", gpus_needed
    else:
        total = sum(n.get("CPU", 0.0) for n in nodes)
        if not any(n.get("CPU", 0.0) >= cpus_needed for n in nodes):
            raise ConfigError(
                f"embed actors: expected a node with {cpus_needed:g} CPU(s) per actor; the cluster's nodes "
                f"have at most {max((n.get('CPU', 0.0) for n in nodes), default=0.0):g}. "
                "Lower --num-cpus-per-actor."
            )
        per = cpus_needed if cpus_needed > 0 else 1.0
        slots = max(1, int(math.floor(total / per + 1e-9)) - 1)
        kind, num_gpus = "cpu", 0.0
    max_size = max(1, slots if config.pool_max is None else min(int(config.pool_max), slots))
    if n_batches is not None:
        max_size = max(1, min(max_size, int(n_batches)))
    min_size = max(1, min(int(config.pool_min), max_size))
    return ActorPlan(kind=kind, num_cpus=cpus_needed, num_gpus=num_gpus, min_size=min_size, max_size=max_size)
