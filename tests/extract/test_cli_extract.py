"""`alnm-ray extract` end to end (real Ray, real store): exit codes, summaries, clear errors."""

import pytest
import yaml
from click.testing import CliRunner

from alnm_ray.cli._errors import EXIT_CASE_FAILURES, EXIT_USER_ERROR
from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore

from .conftest import LIGHT_PARAMS
from .test_job import failing_manifest


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    manifest = root / "manifest.csv"
    failing_manifest(root).to_csv(manifest, index=False)
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(LIGHT_PARAMS), encoding="utf-8")
    plan = root / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "light", "default": {"crop": True},
                                    "sequences": {"T2WI": {"normalize": "zscore", "spacing": [1, 1, 1],
                                                           "crop": True}}}), encoding="utf-8")
    return root, manifest, params, plan


@pytest.mark.ray
@pytest.mark.slow
def test_failures_exit_non_zero_unless_allowed(ray_local, files):
    root, manifest, params, plan = files
    store = root / "store"
    args = ["--quiet", "extract", str(manifest), "--store", str(store), "--params", str(params),
            "--preprocess", str(plan)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == EXIT_CASE_FAILURES, first.output
    assert "extract: 6 cases: 2 done, 0 cached, 4 failed" in first.stdout
    assert "4 case(s) failed" in first.stderr and "more than --max-failures 0" in first.stderr
    assert FeatureStore(store).latest("radiomics").failures == 4
    again = CliRunner().invoke(cli, args + ["--max-failures", "4"])
    assert again.exit_code == 0, again.output
    assert "nothing computed" in again.stdout and "4 case(s) failed" in again.stderr
    too_few = CliRunner().invoke(cli, args + ["--max-failures", "3"])
    assert too_few.exit_code == EXIT_CASE_FAILURES


@pytest.mark.ray
@pytest.mark.slow
def test_preprocess_none_is_a_separate_version(ray_local, files):
    root, manifest, params, _ = files
    store = root / "store_none"
    result = CliRunner().invoke(cli, ["--quiet", "extract", str(manifest), "--store", str(store),
                                      "--params", str(params), "--preprocess", "none", "--max-failures", "4"])
    assert result.exit_code == 0, result.output
    info = FeatureStore(store).latest("radiomics")
    assert info.params["preprocess"]["name"] == "none"
    assert info.lineage["manifest_sha256"] and info.lineage["preprocess_plan"] == "none"
    # without resampling the one-voxel ROI survives preprocessing, and PyRadiomics itself refuses it
    errors = FeatureStore(store).read_errors("radiomics").to_pandas().set_index("patient_id")
    assert info.failures == 4 and errors.loc["p92", "stage"] == "extract"


def test_bad_params_yaml_is_a_clear_user_error(files):
    root, manifest, _, _ = files
    bad = root / "bad.yaml"
    bad.write_text("setting:\n  binWidht: 25\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["extract", str(manifest), "--store", str(root / "s"), "--params", str(bad)])
    assert result.exit_code == EXIT_USER_ERROR
    assert "key 'binWidht' under /setting is not a PyRadiomics setting" in result.output
    assert "Did you mean 'binWidth'?" in result.output and "Traceback" not in result.output


def test_unknown_preprocess_is_a_clear_user_error(files):
    root, manifest, params, _ = files
    result = CliRunner().invoke(cli, ["extract", str(manifest), "--store", str(root / "s"), "--params",
                                      str(params), "--preprocess", "nonee"])
    assert result.exit_code == EXIT_USER_ERROR
    assert "expected a preset (none, guo2024) or a YAML file" in result.output
    assert "Did you mean 'none'?" in result.output
