"""Faults lose no data: a killed Ray worker, a killed driver, a crash during the version write.

Two writers on one store and crashes inside the store's own write are proven in
tests/store/test_feature_store.py; an interrupted and resumed tune sweep in
tests/tune (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.constants import CASE_KEY
from alnm_ray.store import FeatureStore

from .conftest import lesion_case, write_manifest

pytestmark = [pytest.mark.ray, pytest.mark.slow,
              pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc to reap Ray's processes")]

ROOT = Path(__file__).resolve().parents[2]
#: Slow enough (~0.5 s a case on one core) that a fault lands while cases are in flight.
PARAMS = {"imageType": {"Original": {}, "Wavelet": {}}, "featureClass": {"firstorder": None, "glcm": None},
          "setting": {"binWidth": 25, "label": 1}}
BOX = (slice(4, 20), slice(12, 52), slice(12, 52))


def _cohort(root: Path, n: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(11)
    rows = [lesion_case(root, f"PX-{7300 + i}", rng, shape=(24, 64, 64), box=BOX) for i in range(n)]
    (root / "params.yaml").write_text(json.dumps(PARAMS), encoding="utf-8")
    return write_manifest(root, rows), root / "params.yaml"


def _features(store: Path) -> pd.DataFrame:
    table = FeatureStore(store).read("radiomics").to_pandas()
    return table.drop(columns=["extracted_at"]).sort_values(list(CASE_KEY)).reset_index(drop=True)


def _extract_args(manifest: Path, params: Path, store: Path, report: Path) -> list[str]:
    return ["extract", str(manifest), "--store", str(store), "--params", str(params), "--preprocess", "none",
            "--report-json", str(report)]


def _case_workers() -> dict[str, int]:
    """Alive extraction actors of this driver's cluster: actor id -> worker PID."""
    from ray._private.state import actors  # the GCS view: works without the dashboard

    return {aid: int(a["Pid"]) for aid, a in actors().items()
            if "_CaseExtractor" in a.get("ActorClassName", "") and a.get("State") == "ALIVE" and a.get("Pid")}


def test_a_killed_worker_is_retried_and_every_case_lands_once(ray_local, tmp_path: Path) -> None:
    # enough cases that the pool (both actors start at once) is still at work after its start-up
    manifest, params = _cohort(tmp_path, 24)
    report_path = tmp_path / "report.json"
    runner = threading.Thread(target=lambda: CliRunner().invoke(
        cli, ["--quiet", *_extract_args(manifest, params, tmp_path / "store", report_path)]))
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and runner.is_alive() and time.monotonic() < deadline:
        workers = _case_workers()
        if workers:
            time.sleep(0.5)  # past the actor's start-up: it is working on cases now
            pid = next(iter(_case_workers().values()), None)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed = pid
        time.sleep(0.05)
    runner.join(timeout=300)
    assert killed is not None, "no extraction worker was seen alive"
    assert not runner.is_alive()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["cases"], report["failed"]) == (24, 0), report["errors"]
    table = FeatureStore(tmp_path / "store").read("radiomics").to_pandas()
    assert len(table) == 24 and table["case_hash"].is_unique and table["patient_id"].is_unique
    assert table.filter(like="original_glcm").notna().all().all()
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # the worker really died


def _subprocess_extract(args: list[str], log: Path, *, preamble: str = "") -> subprocess.Popen:
    """``alnm-ray --num-cpus 2 <args>`` in its own session (its embedded Ray included), output to ``log``."""
    code = textwrap.dedent(preamble) + "\nimport sys\nfrom alnm_ray.cli.main import main\nsys.argv[0] = 'alnm-ray'\nmain()\n"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    with open(log, "wb") as sink:
        return subprocess.Popen([sys.executable, "-c", code, "--quiet", "--num-cpus", "2", *args], cwd=ROOT,
                                env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def _session(sid: int) -> list[int]:
    """PIDs of the live processes in session ``sid`` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # a killed, not yet reaped process is a zombie
                pids.append(int(entry))
    return pids


def _reap(proc: subprocess.Popen) -> None:
    """SIGKILL a driver started by :func:`_subprocess_extract` and, at once, everything its Ray runs.

    Ray's workers have process groups of their own, but stay in the driver's session.
    """
    for _ in range(100):
        pids = _session(proc.pid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    proc.wait(timeout=60)


def _checkpoints(store: Path) -> list[Path]:
    return sorted((store / "_cache" / "radiomics").glob("*.parquet"))


def test_a_killed_driver_resumes_without_recomputing(ray_local, tmp_path: Path) -> None:
    n = 8
    manifest, params = _cohort(tmp_path, n)
    store = tmp_path / "store"
    proc = _subprocess_extract(_extract_args(manifest, params, store, tmp_path / "killed.json"),
                               tmp_path / "killed.log")
    try:
        deadline = time.monotonic() + 240
        while len(_checkpoints(store)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:  # SIGKILL the driver and the embedded Ray it started: no handler, no cleanup runs
        _reap(proc)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text(encoding="utf-8")[-3000:]
    finished = len(_checkpoints(store))
    assert 3 <= finished < n, f"{finished} of {n} cases had finished when the driver was killed"
    assert FeatureStore(store).versions() == []  # nothing was committed

    again = CliRunner().invoke(cli, ["--quiet", *_extract_args(manifest, params, store, tmp_path / "again.json")])
    assert again.exit_code == 0, again.output
    report = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert (report["resumed"], report["computed"], report["cached"], report["failed"]) == (finished, n - finished, 0, 0)
    assert f"{finished} resumed" in again.output
    assert _checkpoints(store) == []  # committed: the store holds the rows now

    baseline = tmp_path / "uninterrupted"
    clean = CliRunner().invoke(cli, ["--quiet", *_extract_args(manifest, params, baseline, tmp_path / "b.json")])
    assert clean.exit_code == 0, clean.output
    pd.testing.assert_frame_equal(_features(store), _features(baseline))
    assert FeatureStore(store).latest("radiomics").version == FeatureStore(baseline).latest("radiomics").version


#: Runs in the driver before the CLI: the version write dies (no handler runs) after its first Parquet bytes.
CRASH_IN_WRITE = """
    import os
    import pyarrow.parquet as pq
    import alnm_ray.store.feature_store as feature_store
    from alnm_ray.store._writer import as_table

    def crashing_write_parts(fs, folder, data, **kwargs):
        pq.write_table(as_table(data).slice(0, 1), f"{folder}/part-00000.parquet", filesystem=fs)
        os._exit(9)

    feature_store.write_parts = crashing_write_parts
"""


def test_a_crash_during_the_version_write_leaves_no_version(ray_local, tmp_path: Path) -> None:
    n = 4
    manifest, params = _cohort(tmp_path, n)
    store = tmp_path / "store"
    proc = _subprocess_extract(_extract_args(manifest, params, store, tmp_path / "crash.json"),
                               tmp_path / "crash.log", preamble=CRASH_IN_WRITE)
    try:
        proc.wait(timeout=300)
    finally:
        returncode = proc.poll()
        _reap(proc)
    assert returncode == 9, (tmp_path / "crash.log").read_text(encoding="utf-8")[-3000:]
    table_dir = store / "tables" / "radiomics"
    leftovers = sorted(table_dir.glob("part-*.parquet"))
    assert len(leftovers) == 1 and not (table_dir / "_delta_log").exists()  # it died mid-write, before the commit
    opened = FeatureStore(store)
    assert opened.versions() == [] and opened.tables() == []
    listed = CliRunner().invoke(cli, ["sql", "--store", str(store), "--format", "csv",
                                      "SELECT count(*) AS n FROM catalog"])
    assert listed.exit_code == 0 and listed.output.replace('"', "").split() == ["n", "0"], listed.output

    again = CliRunner().invoke(cli, ["--quiet", *_extract_args(manifest, params, store, tmp_path / "again.json")])
    assert again.exit_code == 0, again.output
    report = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert (report["resumed"], report["computed"], report["failed"]) == (n, 0, 0)  # no work was lost
    # the radiomics table; the feature dictionary written after it is a table of its own
    assert [v.rows for v in opened.versions() if v.table == "radiomics"] == [n]
    assert opened.cleanup(older_than_s=0) == [str(leftovers[0])]
