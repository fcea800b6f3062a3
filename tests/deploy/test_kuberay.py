"""deploy/kuberay: the RayCluster and RayJob manifests parse and carry what a cluster needs.

Structure is checked directly (PyYAML), and each cluster spec is also run
through Ray's own KubeRay autoscaler translation (the code the in-tree
autoscaler runs against the live custom resource), which validates the
result against Ray's autoscaler schema.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

from alnm_ray.constants import THREAD_ENV_VARS

KUBERAY = Path(__file__).resolve().parents[2] / "deploy" / "kuberay"
#: Where deploy/Dockerfile puts the repository inside the image.
IMAGE_APP_DIR = "/home/ray/app"


def load_docs(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def one_doc(name: str, kind: str) -> dict[str, Any]:
    docs = [d for d in load_docs(KUBERAY / name) if d.get("kind") == kind]
    assert len(docs) == 1, f"{name}: expected one {kind}, found {len(docs)}"
    return docs[0]


def containers(group: dict[str, Any]) -> list[dict[str, Any]]:
    return group["template"]["spec"]["containers"]


def gpu_limit(group: dict[str, Any]) -> int:
    limits = containers(group)[0].get("resources", {}).get("limits", {})
    return int(limits.get("nvidia.com/gpu", 0))


def check_cluster_spec(spec: dict[str, Any], where: str, *, needs_gpu_group: bool) -> None:
    """The structural requirements shared by RayCluster.spec and RayJob.spec.rayClusterSpec."""
    assert spec["rayVersion"] == ray.__version__, f"{where}: rayVersion differs from the installed Ray"
    # Token authentication stays on.
    assert spec["authOptions"]["mode"] == "token", where
    assert spec["enableInTreeAutoscaling"] is True, where
    head = spec["headGroupSpec"]
    groups = [("head", head)] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    for name, group in groups:
        params = group["rayStartParams"]
        spill = params.get("object-spilling-directory")
        assert spill, f"{where}: group {name} has no object-spilling-directory"
        mounts = {m["mountPath"] for m in containers(group)[0].get("volumeMounts", [])}
        assert spill in mounts, f"{where}: group {name} spills to {spill}, which is not a mounted volume"
        assert "/mnt/alnm" in mounts, f"{where}: group {name} lacks the shared data volume"
        for container in containers(group):
            assert container["image"], f"{where}: group {name} has a container without image"
            for env in container.get("env", []):
                assert not (env["name"] == "RAY_AUTH_MODE" and env.get("value") == "disabled"), where
    assert head["rayStartParams"].get("num-cpus") == "0", f"{where}: the head should run no tasks"
    for group in spec["workerGroupSpecs"]:
        name = group["groupName"]
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], where
        assert group["maxReplicas"] >= 1, f"{where}: group {name} can never scale up"
    gpu_groups = [g for g in spec["workerGroupSpecs"] if gpu_limit(g) > 0]
    cpu_groups = [g for g in spec["workerGroupSpecs"] if gpu_limit(g) == 0]
    assert cpu_groups, f"{where}: no CPU worker group"
    if needs_gpu_group:
        assert gpu_groups, f"{where}: no worker group requests nvidia.com/gpu"
        for group in gpu_groups:
            requests = containers(group)[0]["resources"].get("requests", {})
            assert requests.get("nvidia.com/gpu") == containers(group)[0]["resources"]["limits"]["nvidia.com/gpu"]


def autoscaling_config(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """Ray's KubeRay translation of a cluster spec (validated against Ray's autoscaler schema)."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    return _derive_autoscaling_config_from_ray_cr({"metadata": {"name": name, "namespace": "default"},
                                                   "spec": spec})


def test_raycluster_has_cpu_and_gpu_groups_spilling_and_token_auth():
    doc = one_doc("raycluster.yaml", "RayCluster")
    assert doc["apiVersion"] == "ray.io/v1"
    assert doc["metadata"]["name"]
    check_cluster_spec(doc["spec"], "raycluster.yaml", needs_gpu_group=True)


def test_raycluster_translates_to_autoscaler_node_types_with_bounds():
    doc = one_doc("raycluster.yaml", "RayCluster")
    config = autoscaling_config(doc["spec"], doc["metadata"]["name"])
    types = config["available_node_types"]
    by_group = {g["groupName"]: g for g in doc["spec"]["workerGroupSpecs"]}
    for name, group in by_group.items():
        assert types[name]["min_workers"] == group["minReplicas"]
        assert types[name]["max_workers"] == group["maxReplicas"]
    gpu = [n for n, t in types.items() if t["resources"].get("GPU", 0) >= 1]
    assert gpu == [n for n, g in by_group.items() if gpu_limit(g) > 0]
    assert types["headgroup"]["resources"]["CPU"] == 0


@pytest.mark.parametrize("name, job", [("rayjob-extract.yaml", "extract"), ("rayjob-tune.yaml", "tune")])
def test_rayjob_entrypoint_runs_an_existing_job_with_a_valid_example_spec(name, job, repo_root, jobspec):
    doc = one_doc(name, "RayJob")
    assert doc["apiVersion"] == "ray.io/v1" and doc["metadata"]["name"]
    spec = doc["spec"]
    words = shlex.split(spec["entrypoint"])
    assert words[0] == "python" and len(words) == 3, spec["entrypoint"]
    script, spec_file = (Path(w) for w in words[1:])
    for path in (script, spec_file):
        assert str(path).startswith(IMAGE_APP_DIR + "/"), f"{name}: {path} is not inside the image"
    script = repo_root / script.relative_to(IMAGE_APP_DIR)
    spec_file = repo_root / spec_file.relative_to(IMAGE_APP_DIR)
    assert script == repo_root / "jobs" / f"{job}.py" and script.is_file()
    assert spec_file.parent == repo_root / "jobs" / "examples" and spec_file.is_file()
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    env_vars = runtime_env.get("env_vars", {})
    # alnm-ray sets these for its workers; Ray refuses to merge a job env that sets them too.
    assert not set(env_vars) & set(THREAD_ENV_VARS), f"{name}: runtime env sets thread variables"
    loaded = jobspec.load_spec(spec_file, job=job, environ=env_vars)
    assert loaded.job == job
    for value in env_vars.values():
        assert value in loaded.args.values(), f"{name}: {value} is not used by {spec_file.name}"
    assert spec["shutdownAfterJobFinishes"] is True
    check_cluster_spec(spec["rayClusterSpec"], name, needs_gpu_group=False)
    autoscaling_config(spec["rayClusterSpec"], doc["metadata"]["name"])


def test_kubernetes_pod_templates_validate_against_the_kubernetes_schema():
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    docs = [one_doc("raycluster.yaml", "RayCluster")["spec"]]
    docs += [one_doc(n, "RayJob")["spec"]["rayClusterSpec"] for n in ("rayjob-extract.yaml", "rayjob-tune.yaml")]
    for spec in docs:
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                            "template": group["template"]}
            kv.validate(pod_template, "1.30.0", strict=True)
