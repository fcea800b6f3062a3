"""`alnm-ray ibsi check`: the IBSI-1 phantom through the real extraction job (real Ray and PyRadiomics)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli


@pytest.mark.ray
@pytest.mark.slow
def test_ibsi_check_passes_with_every_mapped_feature_matched_or_explained(tmp_path) -> None:
    out = tmp_path / "ibsi.json"
    result = CliRunner().invoke(cli, ["--num-cpus", "1", "--quiet", "ibsi", "check", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 fail" in result.output and "original_firstorder_Kurtosis" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["ok"] and report["counts"]["fail"] == 0
    assert report["counts"]["convention"] == 4  # kurtosis + 3 and the three PCA axis lengths
    assert report["counts"]["match"] >= 170
    rows = {(r["mode"], r["column"]): r for r in report["rows"]}
    assert rows[("3D", "original_firstorder_Mean")]["ibsi_code"] == "Q4LE"
    assert rows[("3D", "original_glcm_Idm")]["outcome"] == "match"
    assert rows[("2.5D", "original_glszm_ZoneEntropy")]["aggregation"] == "62GR"
    assert set(report["store_versions"]) == {"ibsi_phantom_3d", "ibsi_phantom_2_5d"}


def test_missing_phantom_is_a_clean_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["ibsi", "check", "--phantom", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected the IBSI-1 digital phantom" in result.output and "missing phantom.nii.gz" in result.output


def test_ibsi_help_imports_nothing_heavy() -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom alnm_ray.cli.main import cli\n"
            "r = CliRunner().invoke(cli, ['ibsi', 'check', '--help'])\nassert r.exit_code == 0, r.output\n"
            "print(','.join(m for m in ('ray', 'radiomics', 'pandas', 'SimpleITK') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", check=True)
    assert out.stdout.strip() == ""
