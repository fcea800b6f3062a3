"""A two-node Ray cluster on one machine, a tiny synthetic cohort, and Ray's task record.

``ray.cluster_utils.Cluster`` starts a head node and a worker node as
separate raylets (1 CPU each: the whole machine has 2 cores); the test
process connects as a driver through :func:`alnm_ray.runtime.init_ray` with
an explicit address — the path ``alnm-ray --address`` takes.  Any Ray the
process already runs is shut down first, and the environment (Ray sets
``RAY_AUTH_MODE`` and friends in ``os.environ``) is restored afterwards so
later test modules start from what they expect.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class TwoNodes:
    """A running two-node cluster (``worker`` is stale once a test removed it)."""

    cluster: Any
    head_id: str
    worker: Any

    @property
    def worker_id(self) -> str:
        return self.worker.node_id


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[TwoNodes]:
    import ray
    from ray.cluster_utils import Cluster

    from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray

    saved_env = dict(os.environ)
    if ray.is_initialized():
        ray.shutdown()
    os.environ.pop("RAY_ADDRESS", None)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        init_ray(RayConfig(address=cluster.address, quiet=True))
        yield TwoNodes(cluster=cluster, head_id=cluster.head_node.node_id, worker=worker)
    finally:
        shutdown_ray()
        cluster.shutdown()
        os.environ.clear()
        os.environ.update(saved_env)


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory) -> Path:
    """Two synthetic patients x six sequences (12 cases), small size; returns the manifest path."""
    from alnm_ray.synth import SynthConfig, generate_cohort

    out = tmp_path_factory.mktemp("cohort")
    info = generate_cohort(out, SynthConfig(patients=2, centers=2, seed=11, size="small", n_repeat_readers=0),
                           parallel="serial", quiet=True)
    return Path(info.manifest)


def _task_attempts(name: re.Pattern[str]) -> dict[tuple[bytes, int], tuple[str, bool]]:
    """(task id, attempt) -> (node id, finished) for tasks whose name matches ``name``.

    Read from the task events Ray keeps in the GCS (what ``ray list tasks``
    shows; that command needs the dashboard, which this install lacks).
    """
    from ray._private.state import state
    from ray.core.generated import common_pb2

    out: dict[tuple[bytes, int], tuple[str, bool]] = {}
    for event in state._get_all_task_events():
        if not name.fullmatch(event.task_info.name):
            continue
        key = (event.task_id, event.attempt_number)
        node, finished = out.get(key, ("", False))
        if event.state_updates.node_id:
            node = event.state_updates.node_id.hex()
        finished = finished or common_pb2.TaskStatus.FINISHED in event.state_updates.state_ts_ns
        out[key] = (node, finished)
    return out


@pytest.fixture
def task_attempts() -> Callable[[re.Pattern[str]], dict[tuple[bytes, int], tuple[str, bool]]]:
    return _task_attempts


@pytest.fixture
def finished_by_node() -> Callable[..., Counter]:
    """``fn(name, at_least)``: finished attempts of tasks matching ``name`` per node id.

    Task events reach the GCS asynchronously (about once a second), so this
    polls until ``at_least`` finished attempts are recorded or 20 s pass.
    """
    def count(name: re.Pattern[str], at_least: int) -> Counter:
        deadline = time.monotonic() + 20
        while True:
            by_node = Counter(node for node, done in _task_attempts(name).values() if done)
            if sum(by_node.values()) >= at_least or time.monotonic() > deadline:
                return by_node
            time.sleep(0.5)

    return count


@pytest.fixture
def alnm_logger_restored() -> Iterator[None]:
    """Remove the handlers an in-process CLI call adds to the ``alnm_ray`` logger (console, run log)."""
    import logging

    logger = logging.getLogger("alnm_ray")
    before, level = list(logger.handlers), logger.level
    yield
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)


def wait_until_idle(timeout: float = 30.0) -> None:
    """Wait until every CPU of the cluster is free again (actor pools of earlier runs wind down
    asynchronously; work started meanwhile would only find the CPUs they have not released)."""
    import ray

    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources().get("CPU", 0):
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster CPUs still busy after {timeout} s: {ray.available_resources()}")
        time.sleep(0.25)


@pytest.fixture
def idle_cluster(two_nodes) -> TwoNodes:
    """The two-node cluster, once no earlier work holds any of its CPUs."""
    wait_until_idle()
    return two_nodes
