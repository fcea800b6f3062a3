"""Starting, connecting to and stopping Ray — never at import time.

The CLI calls :func:`ray_session` once per command.  Library code assumes Ray
is already running (it calls :func:`ensure_ray`, which starts an embedded
local Ray only when nothing is running, e.g. from a notebook).

Ray's token authentication, on by default for local clusters since 2.5x, is
left as Ray sets it: nothing here disables it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from alnm_ray.constants import ENV_RAY_ADDRESS, THREAD_ENV_VARS

logger = logging.getLogger(__name__)

#: Namespace shared by every alnm-ray driver, so named actors can be found again.
RAY_NAMESPACE = "alnm_ray"


@dataclass(frozen=True)
class RayConfig:
    """How to reach Ray.

    Args:
        address: A cluster address (``ray://…``, ``host:port`` or ``auto``).
            ``None`` uses ``RAY_ADDRESS`` when set, else starts an embedded local Ray.
        num_cpus: CPUs of the embedded local Ray (ignored when connecting).
        num_gpus: GPUs of the embedded local Ray (ignored when connecting).
        quiet: Hide worker logs on the driver.
    """

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    quiet: bool = False

    def resolved_address(self) -> str | None:
        """The address to connect to, or ``None`` for an embedded local Ray."""
        return self.address or os.environ.get(ENV_RAY_ADDRESS) or None


def worker_env_vars() -> dict[str, str]:
    """Environment for Ray workers: one BLAS/OpenMP/ITK thread per task.

    Ray schedules one task per CPU; a task whose BLAS also spreads over every
    core oversubscribes the machine (measured several-fold slow-downs on 2 cores).
    """
    return {name: "1" for name in THREAD_ENV_VARS}


def init_ray(config: RayConfig | None = None) -> bool:
    """Start or connect to Ray unless it is already initialised.

    Args:
        config: How to reach Ray; defaults to an embedded local Ray.

    Returns:
        ``True`` when this call started or connected (so the caller owns the
        shutdown), ``False`` when Ray was already initialised.
    """
    import ray

    if ray.is_initialized():
        return False
    config = config or RayConfig()
    address = config.resolved_address()
    kwargs: dict[str, Any] = {
        "namespace": RAY_NAMESPACE,
        "runtime_env": {"env_vars": worker_env_vars()},
        "log_to_driver": not config.quiet,
        "logging_level": logging.WARNING,
    }
    if address is None:
        # "local" always starts a fresh embedded Ray instead of attaching to a
        # stray cluster left running on the machine.
        kwargs.update(address="local", num_cpus=config.num_cpus, num_gpus=config.num_gpus,
                      include_dashboard=False)
        logger.info("starting an embedded local Ray (num_cpus=%s)", config.num_cpus or "all")
    else:
        kwargs["address"] = address
        logger.info("connecting to the Ray cluster at %s", address)
    ray.init(**kwargs)
    return True


def ensure_ray() -> None:
    """Make sure Ray is running (start an embedded one if needed)."""
    init_ray(RayConfig(quiet=True))


def shutdown_ray() -> None:
    """Disconnect from (or stop the embedded) Ray."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


@contextlib.contextmanager
def ray_session(config: RayConfig | None = None) -> Iterator[None]:
    """Run a block with Ray available; shut it down afterwards if we started it.

    Example:
        >>> with ray_session(RayConfig(num_cpus=1, quiet=True)):  # doctest: +SKIP
        ...     pass
    """
    started = init_ray(config)
    try:
        yield
    finally:
        if started:
            shutdown_ray()


def cluster_gpus() -> float:
    """GPUs the running cluster declares (0 when none)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def cluster_cpus() -> float:
    """CPUs the running cluster declares."""
    import ray

    return float(ray.cluster_resources().get("CPU", 1.0))
