"""Locked down: read-only confined SQL, token auth left on, no identifiers in logs above DEBUG.

Bundle verification before deserialising is proven in tests/score/test_bundle.py
and end to end by the ``altered_bundle`` kind of test_bad_input_catalog.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore

from .conftest import PATIENT_IDS, TINY_PARAMS, lesion_case, long_features, tree, write_manifest

ROOT = Path(__file__).resolve().parents[2]


# --- SQL: read-only and confined to the store ----------------------------------------------------
@pytest.fixture
def sql_store(tmp_path: Path, rng: np.random.Generator) -> Path:
    FeatureStore(tmp_path / "store").write_version("radiomics", long_features(rng, [0, 1, 1]))
    (tmp_path / "outside.csv").write_text("secret\n42\n", encoding="utf-8")
    return tmp_path


REFUSED = [
    ("INSERT INTO radiomics SELECT * FROM radiomics", "got a INSERT statement"),
    ("CREATE TABLE t AS SELECT 1", "got a CREATE statement"),
    ("DROP VIEW radiomics", "got a DROP statement"),
    ("COPY radiomics TO '{out}/leak.csv'", "got a COPY statement"),
    ("EXPLAIN ANALYZE COPY radiomics TO '{out}/leak.csv'", "got a COPY statement"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "got a CREATE statement"),
    ("ATTACH '{out}/leak.duckdb' AS x", "got a ATTACH statement"),
    ("INSTALL httpfs", "got a LOAD statement"),
    ("LOAD httpfs", "got a LOAD statement"),
    ("SET enable_external_access = true", "got a SET statement"),
    ("SELECT * FROM read_csv('{out}/outside.csv')", "file access is disabled"),
    ("SELECT * FROM read_parquet('{out}/store/tables/*/*/*.parquet')", "file access is disabled"),
    ("SELECT * FROM read_text('/etc/hostname')", "file access is disabled"),
    ("SELECT * FROM glob('{out}/*')", "file access is disabled"),
    ("SELECT * FROM '{out}/outside.csv'", "file access is disabled"),
]


@pytest.mark.parametrize("sql, expected", REFUSED, ids=[s.split("(")[0][:40] for s, _ in REFUSED])
def test_sql_is_read_only_and_confined_to_the_store(sql_store: Path, sql: str, expected: str) -> None:
    before = tree(sql_store)
    result = CliRunner().invoke(cli, ["sql", "--store", str(sql_store / "store"), sql.format(out=sql_store)])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert "42" not in result.output  # the outside file's content never shows
    assert tree(sql_store) == before  # no file written, store untouched


def test_sql_still_reads_the_store(sql_store: Path) -> None:
    result = CliRunner().invoke(cli, ["sql", "--store", str(sql_store / "store"), "--format", "csv",
                                      "SELECT count(*) AS n FROM radiomics"])
    assert result.exit_code == 0, result.output
    assert result.output.replace('"', "").split() == ["n", "6"]


# --- Ray token authentication stays on ----------------------------------------------------------
_CODE_SUFFIXES = (".py", ".yaml", ".yml", ".sh", ".json", ".toml")


def test_no_code_or_deployment_file_turns_token_auth_off() -> None:
    offenders = []
    for folder in ("alnm_ray", "deploy", "jobs", "scripts"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and (path.suffix in _CODE_SUFFIXES or path.name == "Dockerfile"):
                text = path.read_text(errors="replace", encoding="utf-8")
                if re.search(r"RAY_AUTH_MODE\W{0,4}(?:=|:)\W{0,4}['\"]?disabled", text, re.IGNORECASE):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_worker_environment_does_not_touch_ray_auth() -> None:
    from alnm_ray.runtime import worker_env_vars

    assert not [k for k in worker_env_vars() if k.startswith("RAY_AUTH")]


@pytest.mark.ray
@pytest.mark.slow
def test_init_ray_leaves_token_auth_on(tmp_path: Path) -> None:
    # A fresh process with no RAY_AUTH_* settings and its own HOME: what init_ray does is all there is.
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import ray
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
        from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray
        assert init_ray(RayConfig(num_cpus=1, quiet=True))
        print("enabled", is_token_auth_enabled(), os.environ.get("RAY_AUTH_MODE"),
              ray.get(ray.remote(lambda: os.environ.get("RAY_AUTH_MODE")).remote()))
        shutdown_ray()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "enabled True token token" in proc.stdout
    assert (tmp_path / ".ray" / "auth_token").is_file()  # Ray generated the cluster's token


# --- logs carry no image paths or patient identifiers above DEBUG ------------------------------
def _log_records(stderr: str) -> list[dict]:
    records = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and {"level", "logger", "message"} <= set(record):
                records.append(record)
    return records


def _flat_case(root: Path, pid: str) -> dict:
    """A case that passes validation but fails the embedding (no intensity variation in the lesion crop)."""
    z, y, x = np.mgrid[:16, :40, :20]
    lesion = ((z - 8) / 4.0) ** 2 + ((y - 10) / 4.0) ** 2 + ((x - 10) / 4.0) ** 2 <= 1
    flat = np.full(lesion.shape, 50.0, np.float32)
    flat[:, -1, :] = 60.0
    sitk.WriteImage(sitk.GetImageFromArray(flat), str(root / f"{pid}.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(lesion.astype(np.uint8)), str(root / f"{pid}_mask.nii.gz"))
    return {"cohort": "rel", "center": "C1", "patient_id": pid, "sequence": "T2WI", "reader": "A",
            "image": f"{pid}.nii.gz", "mask": f"{pid}_mask.nii.gz", "mask_label": 1, "label": 0}


@pytest.mark.ray
@pytest.mark.slow
def test_logs_above_debug_carry_no_identifiers_unless_asked(ray_local, tmp_path: Path, rng) -> None:
    rows = [lesion_case(tmp_path, PATIENT_IDS[0], rng, shape=(16, 40, 20)), _flat_case(tmp_path, PATIENT_IDS[1])]
    manifest = write_manifest(tmp_path, rows)
    secret = [PATIENT_IDS[1], str(tmp_path)]
    args = ["embed", str(manifest), "--grid", "32", "--batch-size", "2", "--preprocess", "none",
            "--max-failures", "1"]
    redacted = CliRunner().invoke(cli, ["--log-json", *args, "--store", str(tmp_path / "s1")])
    assert redacted.exit_code == 0, redacted.output
    warnings = [r for r in _log_records(redacted.stderr) if r["level"] == "WARNING" and "case failed" in r["message"]]
    assert warnings and "rel/C1/<patient>/T2WI/A" in warnings[0]["message"]
    for record in _log_records(redacted.stderr):
        assert not any(s in record["message"] for s in secret), record
    # the record that would have leaked is there, redacted (with --log-identifiers it is kept as is:
    # tests/cli/test_redact.py::test_console_redacts_info_but_not_when_asked)
    assert PATIENT_IDS[1] in redacted.stderr  # the command's own failure summary still names the case


@pytest.mark.ray
@pytest.mark.slow
def test_extract_console_at_info_names_no_patient_or_image(ray_local, tmp_path: Path, rng) -> None:
    rows = [lesion_case(tmp_path, pid, rng) for pid in PATIENT_IDS[:2]]
    (tmp_path / "params.yaml").write_text(json.dumps(TINY_PARAMS), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--log-level", "INFO", "extract", str(write_manifest(tmp_path, rows)),
                                      "--store", str(tmp_path / "store"), "--params", str(tmp_path / "params.yaml"),
                                      "--preprocess", "none"])
    assert result.exit_code == 0, result.output
    assert "INFO committed radiomics@" in result.stderr  # INFO logs did reach the console
    for secret in (*PATIENT_IDS[:2], str(tmp_path)):
        assert secret not in result.stderr
