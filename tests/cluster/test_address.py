"""The CLI and the job entrypoints connect to a running cluster (`ray start --head`), token auth on.

The head runs as ``ray start --head --block`` in its own process group with
token authentication (``RAY_AUTH_MODE=token`` and a fresh ``RAY_AUTH_TOKEN``,
as KubeRay sets them) and a private ``HOME``, so the only way in is the token
given in the environment.  Teardown signals that process group only — never
``ray stop``, which would stop every Ray on the machine.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Head:
    address: str
    env: dict[str, str]
    temp_dir: str

    def driver_pids(self) -> set[int]:
        """Pids of every driver that connected (Ray writes one core-driver log per driver)."""
        logs = Path(self.temp_dir, "session_latest", "logs")
        return {int(p.stem.rsplit("_", 1)[1]) for p in logs.glob("python-core-driver-*_*.log")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory) -> Iterator[Head]:
    # Ray's unix-socket paths must stay short: a /tmp folder, not pytest's deep tmp_path.
    temp_dir = tempfile.mkdtemp(prefix="alnmray-", dir="/tmp")
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH"))}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), HOME=str(home))
    port = _free_port()
    log = open(Path(temp_dir, "head.log"), "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=1", "--num-gpus=0",
         "--include-dashboard=false", f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in Path(temp_dir, "head.log").read_text(encoding="utf-8"):
            assert proc.poll() is None, Path(temp_dir, "head.log").read_text(encoding="utf-8")[-2000:]
            assert time.monotonic() < deadline, "ray start --head did not come up in 90 s"
            time.sleep(0.5)
        yield Head(address=f"127.0.0.1:{port}", env=env, temp_dir=temp_dir)
    finally:
        # Only this head's process group (`ray start` and the raylet, GCS and workers it started).
        pgid = os.getpgid(proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:  # a head that had drivers drains for up to 30 s; no need to wait for that here
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # whatever ignored SIGTERM
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, str, str, int]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=ROOT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err, proc.pid


def test_cli_address_runs_on_the_running_cluster_with_its_token(ray_head, tmp_path):
    code, out, err, pid = _run([str(BIN / "alnm-ray"), "--address", ray_head.address, "--quiet", "synth",
                                str(tmp_path / "cohort"), "--patients", "2", "--repeat-readers", "0"],
                               ray_head.env)
    assert code == 0, err[-3000:]
    assert "(ray)" in out, out  # --address makes synth use Ray
    assert (tmp_path / "cohort" / "manifest.csv").is_file()
    assert pid in ray_head.driver_pids(), "the CLI did not connect to the running cluster"


def test_job_entrypoint_uses_ray_address_like_ray_job_submit(ray_head, tmp_path):
    from alnm_ray.store import FeatureStore
    from alnm_ray.synth import SynthConfig, generate_cohort

    info = generate_cohort(tmp_path / "cohort", SynthConfig(patients=1, centers=1, seed=5, n_repeat_readers=0),
                           parallel="serial", quiet=True)
    spec = tmp_path / "extract.yaml"
    spec.write_text(yaml.safe_dump({"job": "extract", "quiet": True,
                                    "args": {"manifest": str(info.manifest), "store": "${STORE_DIR}",
                                             "preset": "guo2024"}}), encoding="utf-8")
    # `ray job submit` runs the entrypoint with RAY_ADDRESS pointing at the cluster.
    env = dict(ray_head.env, RAY_ADDRESS=ray_head.address, STORE_DIR=str(tmp_path / "store"))
    code, out, err, pid = _run([sys.executable, str(ROOT / "jobs" / "extract.py"), str(spec)], env)
    assert code == 0, err[-3000:]
    assert "6 cases: 6 done, 0 cached, 0 failed" in out, out
    assert pid in ray_head.driver_pids(), "the job did not run on the cluster given by RAY_ADDRESS"
    table = FeatureStore(str(tmp_path / "store")).read("radiomics")
    assert table.num_rows == 6


def test_with_a_wrong_token_the_cluster_refuses_the_cli(ray_head, tmp_path):
    env = dict(ray_head.env, RAY_AUTH_TOKEN=secrets.token_hex(32))
    code, out, err, pid = _run([str(BIN / "alnm-ray"), "--address", ray_head.address, "--quiet", "synth",
                                str(tmp_path / "cohort"), "--patients", "2", "--repeat-readers", "0"], env)
    assert code != 0
    assert "Traceback" not in err, err[-3000:]
    # The head, not the client, said no: Ray's GCS client logs the server's reason.
    assert "RAY_AUTH_TOKEN" in err and "refused" in err, err[-3000:]  # one message naming the fix
    assert not (tmp_path / "cohort" / "manifest.csv").exists()
