"""jobs/<job>.py run as a process, the way `ray job submit` runs them (here on an embedded Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("[a-z]*.py"))


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 300):
    env = {k: v for k, v in (env or os.environ).items() if k != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


@pytest.mark.parametrize("job", JOBS)
def test_every_entrypoint_has_help(job):
    result = _run([f"jobs/{job}.py", "--help"])
    assert result.returncode == 0, result.stderr
    assert f"Run `alnm-ray {job}` from a YAML job spec" in result.stdout


def test_entrypoint_check_validates_without_running(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("job: extract\nargs:\n  manifest: m.csv\n  stor: s\n", encoding="utf-8")
    result = _run(["jobs/extract.py", "--check", str(spec)])
    assert result.returncode == 2
    assert "args.stor: expected one of the known keys" in result.stderr
    assert "Did you mean 'store'?" in result.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_extract_job_runs_end_to_end_and_reports_failed_cases_by_exit_status(tmp_path):
    from alnm_ray.store import FeatureStore
    from alnm_ray.synth import SynthConfig, generate_cohort

    info = generate_cohort(tmp_path / "cohort", SynthConfig(patients=1, centers=1, seed=3, n_repeat_readers=0),
                           parallel="serial", quiet=True)
    full = pd.read_csv(info.manifest)
    rows = full[full["sequence"].isin(["MG_CC", "MG_MLO", "T2WI"])].copy()
    rows.loc[rows["sequence"] == "T2WI", "image"] = "images/missing.nii.gz"  # one case that must fail
    manifest = Path(info.manifest).with_name("subset.csv")
    rows.to_csv(manifest, index=False)
    store = tmp_path / "store"
    spec = tmp_path / "extract.yaml"
    spec.write_text(yaml.safe_dump({"job": "extract", "ray": {"num_cpus": 1}, "quiet": True,
                                    "args": {"manifest": str(manifest), "store": str(store),
                                             "preset": "guo2024", "max_failures": 0}}), encoding="utf-8")

    result = _run(["jobs/extract.py", str(spec)])

    # The job finished, wrote its version, and fails (exit 3) because a case failed.
    assert result.returncode == 3, result.stderr[-3000:]
    assert "extract: 3 cases: 2 done, 0 cached, 1 failed" in result.stdout
    fs = FeatureStore(str(store))
    assert sorted(fs.read("radiomics").to_pandas()["sequence"]) == ["MG_CC", "MG_MLO"]
    errors = fs.read_errors("radiomics").to_pandas()
    assert list(errors["sequence"]) == ["T2WI"]
