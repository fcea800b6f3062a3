"""GPU scheduling on a two-node test cluster whose second node declares a (fake) GPU.

The actors must request ``num_gpus`` (so they land on the GPU node) and still
run, on CPU torch, because this torch build has no CUDA.  The cluster is this
module's own: any Ray already initialised in the process is shut down first,
and the cluster is torn down afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alnm_ray.embed.cases import load_crop
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.inputs import to_network_input
from alnm_ray.embed.job import run_embedding
from alnm_ray.embed.model import FEATURE_COLUMNS, build_resnet18, embed_volumes
from alnm_ray.exceptions import RandomWeightsWarning
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.store import FeatureStore

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def gpu_cluster():
    import ray
    from ray.cluster_utils import Cluster

    from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray

    shutdown_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    cluster.wait_for_nodes()
    init_ray(RayConfig(address=cluster.address, quiet=True))
    try:
        yield ray, gpu_node.node_id
    finally:
        shutdown_ray()
        cluster.shutdown()


def test_actors_run_on_the_gpu_node_with_cpu_torch(gpu_cluster, tmp_path: Path, rng, cohort_factory) -> None:
    ray, gpu_node_id = gpu_cluster
    assert ray.cluster_resources().get("GPU") == 1.0
    cohort = cohort_factory(tmp_path / "c", rng, n_patients=2, two_d=False)
    cfg = EmbedConfig(grid=(32, 32, 32), batch_size=1)
    with pytest.warns(RandomWeightsWarning):
        summary = run_embedding(cohort, str(tmp_path / "store"), cfg, plan="none")
    assert summary.actors.kind == "gpu" and summary.actors.num_gpus == 1.0 and summary.actors.max_size == 1
    assert summary.nodes == {gpu_node_id: 2}
    assert summary.devices == {"cpu": 2}
    assert summary.failed == 0

    table = FeatureStore(str(tmp_path / "store")).read("deep").to_pandas().sort_values("patient_id")
    model = build_resnet18(seed=cfg.seed)
    for row, (_, got) in zip(cohort.sort_values("patient_id").to_dict("records"), table.iterrows()):
        crop = load_crop(row, PreprocessConfig(), cfg.margin_mm)
        expected = embed_volumes(model, to_network_input(crop, cfg)[None])[0]
        np.testing.assert_allclose(got[list(FEATURE_COLUMNS)].to_numpy(float), expected, rtol=1e-4, atol=1e-5)
