"""A real `ray start --head` cluster with token authentication and a driver holding the wrong token.

The head runs in its own temporary folder on a free port; only the processes
started for it (found by that folder in their command line) are stopped
afterwards, never other Ray clusters on the machine.
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
from pathlib import Path

import pytest

RAY = str(Path(sys.executable).with_name("ray"))
ENTRY = "import sys; from alnm_ray.cli.main import main; sys.argv[0] = 'alnm-ray'; main()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pids_using(folder: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if folder in cmdline:
            pids.append(int(proc.name))
    return pids


def _stop(folder: str) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_using(folder):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while _pids_using(folder) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture(scope="module")
def token_head() -> Iterator[tuple[str, str]]:
    """``(address, token)`` of a one-CPU head started with ``RAY_AUTH_MODE=token``."""
    folder = tempfile.mkdtemp(prefix="alnm-tok-", dir="/tmp")  # short: Ray's socket paths are length-limited
    token = secrets.token_hex(32)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    try:
        started = subprocess.run(
            [RAY, "start", "--head", f"--port={port}", f"--temp-dir={folder}", "--num-cpus=1",
             "--include-dashboard=false", "--disable-usage-stats"],
            env=env, capture_output=True, text=True, encoding="utf-8", timeout=180)
        assert started.returncode == 0, started.stderr
        yield f"127.0.0.1:{port}", token
    finally:
        _stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.slow
def test_a_refused_token_gets_one_message_and_exit_2(token_head, tmp_path) -> None:
    address, token = token_head
    wrong = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=wrong)
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, "--address", address, "synth", str(tmp_path / "cohort"),
         "--patients", "2", "--parallel", "ray", "--size", "small"],
        env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)
    err = result.stderr
    assert result.returncode == 2, err
    assert f"Ray cluster at {address}: expected this driver's authentication token" in err
    assert "RAY_AUTH_MODE=token, token from the RAY_AUTH_TOKEN environment variable" in err
    assert "Set RAY_AUTH_TOKEN to the cluster's token" in err
    assert "gcs_client" not in err and "Traceback" not in err  # Ray's retry warnings stay out of the console
    assert "writable" not in err and "free space" not in err  # not mistaken for a file error
    assert wrong not in err and token not in err
    assert err.count("Error:") == 1
