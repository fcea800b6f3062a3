"""Work spreads over a two-node cluster, and an extraction survives losing a node.

The tests share one module-scoped two-node cluster (each Ray start costs
seconds here); the node-removal test removes the worker, so it runs last.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest

from alnm_ray.constants import CASE_KEY

pytestmark = [pytest.mark.ray, pytest.mark.slow]

#: The extraction's per-case Ray work: Ray Data names a map stage after its UDF, as plain
#: tasks ("MapBatches(_extract_batch)") or as actor calls on a pool
#: ("MapWorker(MapBatches(_CaseExtractor)).submit").
#: A Ray Tune trial's training call (function trainables run as ``ImplicitFunc`` actors).
TUNE_TRIAL = re.compile(r"\w+\.train")
EXTRACT_TASK = re.compile(r"MapBatches\(\w*[Ee]xtract\w*\)|MapWorker\(MapBatches\(\w*[Ee]xtract\w*\)\)\.submit")


def _tag_node(row: dict) -> dict:
    import time

    import ray

    time.sleep(0.3)  # long enough that one node cannot drain the queue alone
    row["node"] = ray.get_runtime_context().get_node_id()
    return row


def _extract(manifest, store):
    """What ``alnm-ray extract MANIFEST --store STORE`` (preset guo2024) runs once Ray is up."""
    from alnm_ray.extract.job import run_extraction
    from alnm_ray.extract.params import load_params
    from alnm_ray.manifest import read_manifest
    from alnm_ray.preprocess.config import load_plan

    df = read_manifest(manifest, check_files=False)
    report = run_extraction(df, str(store), params=load_params("guo2024"), plan=load_plan("guo2024"),
                            quiet=True)
    return df, report


def _case_keys(df) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for row in df[list(CASE_KEY)].itertuples(index=False))


def test_driver_sees_both_nodes(two_nodes):
    import ray

    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert alive == {two_nodes.head_id, two_nodes.worker_id}
    assert ray.cluster_resources()["CPU"] == 2


def test_ray_data_map_runs_on_both_nodes(idle_cluster):
    import sys

    import ray

    # The workers cannot import this test module by name: ship its functions by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ds = ray.data.range(12, override_num_blocks=12).map(_tag_node, num_cpus=1)
    rows = ds.take_all()
    assert sorted(r["id"] for r in rows) == list(range(12))
    assert {r["node"] for r in rows} == {idle_cluster.head_id, idle_cluster.worker_id}


def test_tune_trials_spread_over_both_nodes(idle_cluster, tmp_path, finished_by_node, alnm_logger_restored):
    import numpy as np
    import pandas as pd

    from alnm_ray.cli.main import cli
    from alnm_ray.store import FeatureStore

    # Trials must outlast a trial actor's start on the other node (seconds here), or Tune, which
    # reuses actors, may run every trial on the first actor that came up: 120 patients, 10 noise
    # features, four classifiers, 5 folds per trial.
    rng = np.random.default_rng(7)
    n = 120
    y = np.tile([0, 1], n // 2)
    clinical = pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(n)], "cohort": "c", "center": "A",
                             "label": y, "size_mm": (20 + 8 * y + rng.normal(0, 5, n)).round(1),
                             **{f"x{j}": rng.normal(0, 1, n).round(3) for j in range(10)}})
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    before = Counter(finished_by_node(TUNE_TRIAL, at_least=0))
    # The same command a user types; Ray is already connected, so the CLI uses this cluster.
    result = cli.main(args=["--quiet", "tune", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "run"),
                            "--clinical", str(tmp_path / "clinical.csv"), "--feature-sets", "clinical",
                            "--classifiers", "lr,svm,knn,mlp", "--repeats", "4", "--folds", "5",
                            "--no-holdout", "--no-external", "--chunk", "1", "--max-concurrent", "2"],
                      standalone_mode=False)
    assert result in (None, 0)
    after = finished_by_node(TUNE_TRIAL, at_least=sum(before.values()) + 4)
    assert {node for node in after if after[node] > before[node]} == {idle_cluster.head_id, idle_cluster.worker_id}
    cv = FeatureStore(str(tmp_path / "store")).read("cv_results").to_pandas()
    assert len(cv) == 4 * 5 * 4  # repeats x folds x classifiers, one feature set
    assert sorted(set(cv["repeat"])) == [0, 1, 2, 3]


def test_extraction_spreads_over_both_nodes(idle_cluster, tiny_cohort, tmp_path, finished_by_node):
    from alnm_ray.store import FeatureStore

    df, report = _extract(tiny_cohort, tmp_path / "store")
    assert report.failed == 0 and report.computed == len(df) == 12
    by_node = finished_by_node(EXTRACT_TASK, at_least=len(df))
    assert set(by_node) == {idle_cluster.head_id, idle_cluster.worker_id}, by_node
    table = FeatureStore(str(tmp_path / "store")).read("radiomics").to_pandas()
    assert _case_keys(table) == _case_keys(df)


def test_extraction_finishes_with_every_case_once_after_losing_a_node(idle_cluster, tiny_cohort, tmp_path,
                                                                       task_attempts):
    from alnm_ray.store import FeatureStore

    before = set(task_attempts(EXTRACT_TASK))
    worker_id = idle_cluster.worker_id
    removed: dict[str, float] = {}

    def remove_worker_mid_run() -> None:
        # Wait until the worker is running one of this run's cases and another case has finished,
        # then take the worker node away (its raylet and workers are killed).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = {k: v for k, v in task_attempts(EXTRACT_TASK).items() if k not in before}
            on_worker = [k for k, (node, done) in new.items() if node == worker_id and not done]
            if on_worker and any(done for _node, done in new.values()):
                removed["finished_before"] = sum(done for _node, done in new.values())
                idle_cluster.cluster.remove_node(idle_cluster.worker)
                removed["at"] = time.monotonic()
                return
            time.sleep(0.2)

    killer = threading.Thread(target=remove_worker_mid_run, daemon=True)
    killer.start()
    df, report = _extract(tiny_cohort, tmp_path / "store")
    finished_at = time.monotonic()
    killer.join(timeout=60)
    assert "at" in removed, "the worker node was never seen running a case"
    assert removed["at"] < finished_at and removed["finished_before"] < len(df)

    # Every case exactly once, none lost to the dead node: Ray Data retried its tasks.
    assert report.failed == 0, report.failure_summary()
    table = FeatureStore(str(tmp_path / "store")).read("radiomics").to_pandas()
    assert _case_keys(table) == _case_keys(df)
    assert not table.duplicated(list(CASE_KEY)).any()
