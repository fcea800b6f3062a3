"""deploy/cluster-launcher/cluster.yaml: valid for Ray's cluster launcher, CPU and GPU node types."""

from __future__ import annotations

from pathlib import Path

import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "deploy" / "cluster-launcher" / "cluster.yaml"


def load() -> dict:
    with open(CLUSTER_YAML, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_config_passes_rays_launcher_schema_after_defaults():
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = load()
    validate_config(config)
    filled = fillout_defaults(config)
    validate_config(filled)
    assert filled["provider"]["type"] == "aws"
    assert filled["head_node_type"] in filled["available_node_types"]


def test_cpu_and_gpu_node_types_with_autoscaling_bounds():
    config = load()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0, "the head should run no tasks"
    workers = {n: t for n, t in types.items() if n != config["head_node_type"]}
    gpu = {n: t for n, t in workers.items() if t["resources"].get("GPU", 0) >= 1}
    cpu = {n: t for n, t in workers.items() if t["resources"].get("GPU", 0) == 0}
    assert gpu and cpu
    for name, node_type in workers.items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"], name
        assert node_type["max_workers"] >= 1, name
    assert config["max_workers"] == sum(t["max_workers"] for t in workers.values())
    for name, node_type in gpu.items():
        assert "gpu" in node_type["docker"]["worker_image"], f"{name} should run the CUDA image"


def test_object_spilling_and_token_auth_on_every_node():
    config = load()
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in config[key] if "ray start" in c]
        assert len(start) == 1, key
        assert "--object-spilling-directory=/ray-spill" in start[0], key
    run_options = " ".join(config["docker"]["run_options"])
    assert "--env RAY_AUTH_MODE=token" in run_options
    assert ":/ray-spill" in run_options and "/mnt/alnm:/mnt/alnm" in run_options
    assert config["file_mounts"].get("/home/ray/.ray/auth_token") == "~/.ray/auth_token"
    assert "disabled" not in CLUSTER_YAML.read_text(encoding="utf-8")
