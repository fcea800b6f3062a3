"""Clean exits of real CLI processes: Ctrl-C on `tune` exits 130 and the sweep resumes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Runs the console entry point in a child interpreter (what `alnm-ray` does).
ENTRY = "import sys; from alnm_ray.cli.main import main; sys.argv[0] = 'alnm-ray'; main()"
SELECTION = "preset: guo2024\nicc_threshold: null\nlasso_repeats: 2\nlasso_folds: 3\nmrmr_k: 4\n"


def _make_store():
    spec = importlib.util.spec_from_file_location(
        "_exit_store_factory", Path(__file__).resolve().parents[1] / "tune" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_store


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # the child starts its own embedded Ray, never another one
    return env


@pytest.fixture
def sweep_args(tmp_path) -> list[str]:
    store = tmp_path / "store"
    _make_store()(str(store), n=50, signal=1.0)
    sel = tmp_path / "sel.yaml"
    sel.write_text(SELECTION, encoding="utf-8")
    # 24 one-repeat units, one at a time: plenty left to do when the interrupt comes.
    return ["--num-cpus", "1", "tune", "--store", str(store), "--out", str(tmp_path / "run"),
            "--feature-sets", "radiomics", "--classifiers", "lr", "--repeats", "24", "--folds", "3",
            "--chunk", "1", "--max-concurrent", "1", "--no-external", "--no-holdout",
            "--selection", str(sel)]


def _interrupt_after_first_unit(args: list[str], trials: Path) -> tuple[int, str, int]:
    """Start `alnm-ray tune`, send SIGINT once a unit is on disk; return (exit code, stderr, units)."""
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, encoding="utf-8", env=_env())  # "—": never the locale's
    try:
        deadline = time.monotonic() + 300
        while not any(trials.glob("*.json")):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=60)
                pytest.fail(f"the sweep did not start a unit (exit {proc.returncode}):\n{out}\n{err}")
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, len(list(trials.glob("*.json")))


@pytest.mark.ray
@pytest.mark.slow
def test_interrupted_tune_exits_130_and_the_rerun_resumes(tmp_path, sweep_args) -> None:
    trials = tmp_path / "run" / "trials"
    code, err, kept = _interrupt_after_first_unit(sweep_args, trials)
    assert code == 130, err
    assert "tune: interrupted — re-run the same command to resume" in err
    assert "Tuner.restore" not in err and "Traceback" not in err
    assert 1 <= kept < 24, "the interrupt should leave finished units and work still to do"

    again = subprocess.run([sys.executable, "-c", ENTRY, "--quiet", *sweep_args, "--json"],
                           capture_output=True, encoding="utf-8", env=_env(), timeout=900)
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    assert outcome["complete"] and outcome["reused"] >= kept
    assert outcome["computed"] + outcome["reused"] == outcome["units"]


# --- how errors become messages and exit codes (fast, no Ray) --------------------------------------

def _guarded(exc: BaseException):
    import click

    from alnm_ray.cli._errors import run_guarded

    def boom():
        raise exc

    with pytest.raises(click.ClickException) as info:
        run_guarded(boom, debug=False)
    return info.value.exit_code, info.value.format_message()


def test_disk_full_gets_the_file_advice() -> None:
    import errno

    code, msg = _guarded(OSError(errno.ENOSPC, "No space left on device", "/out/p.parquet"))
    assert code == 2
    assert msg == "/out/p.parquet: No space left on device; the disk is full: free space or write to another volume."


def test_connection_errors_never_get_the_file_advice() -> None:
    code, msg = _guarded(ConnectionError("Failed to connect to Ray cluster at 10.1.2.3:6379"))
    assert code == 2 and "writable" not in msg and "free space" not in msg and "an output file" not in msg
    assert msg.startswith("Failed to connect to Ray cluster at 10.1.2.3:6379: expected to reach")
    assert "--address or RAY_ADDRESS" in msg
    code, msg = _guarded(OSError("a socket went away"))  # no path, no filesystem errno: not a file error
    assert code == 70 and "writable" not in msg and "internal error (OSError)" in msg


def test_ctrl_c_exits_130() -> None:
    code, msg = _guarded(KeyboardInterrupt())
    assert code == 130 and "interrupted (Ctrl-C / SIGINT)" in msg


def test_a_refused_token_is_named_and_never_shown(monkeypatch) -> None:
    from ray.exceptions import AuthenticationError

    from alnm_ray.runtime import connection_error

    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "s3cr3t-t0ken-value")
    try:
        try:
            raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
        except AuthenticationError as inner:
            raise RuntimeError("Failed to connect to GCS.") from inner
    except RuntimeError as err:
        other = connection_error("10.1.2.3:6379", ConnectionError("Failed to connect to Ray cluster"))
        refused = connection_error("10.1.2.3:6379", err)
    msg = str(refused)
    assert msg.startswith("Ray cluster at 10.1.2.3:6379: expected this driver's authentication token")
    assert "RAY_AUTH_MODE=token, token from the RAY_AUTH_TOKEN environment variable" in msg
    assert "Set RAY_AUTH_TOKEN to the cluster's token" in msg and "s3cr3t" not in msg
    assert "RAY_AUTH_TOKEN" not in str(other) and "--address or RAY_ADDRESS" in str(other)  # not a token problem


def test_a_closed_stdout_ends_quietly_not_with_network_advice(tmp_path) -> None:
    # `alnm-ray sql … | head`: the reader goes away before the answer is written.  That is no
    # connection failure (BrokenPipeError is a ConnectionError): exit 141 (128 + SIGPIPE), no message.
    (tmp_path / "store").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "sql", "--store", str(tmp_path / "store"),
                             "SELECT 42 AS answer"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8", env=_env())
    proc.stdout.close()  # before the interpreter has even imported the package
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    assert "network service" not in err and "Traceback" not in err and "Exception ignored" not in err


def test_a_broken_pipe_that_is_not_stdout_keeps_the_connection_message() -> None:
    code, msg = _guarded(BrokenPipeError(32, "Broken pipe"))  # under pytest, stdout is no closed pipe
    assert code == 2 and "expected to reach a network service" in msg
