"""Reading tune run folders for `train --run`."""

from __future__ import annotations

import json

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.runs import load_run, train_settings


def test_run_json_and_config_yaml(tmp_path):
    (tmp_path / "config.yaml").write_text("preset: liu2025\nseed: 4\ntable_versions: {radiomics: abc}\n"
                                         "best_params: {radiomics/svm: {C: 2.0}}\nclassifiers: [svm, lr]\n", encoding="utf-8")
    settings = train_settings(load_run(tmp_path), "radiomics", "svm")
    assert settings == {"selection": "liu2025", "seed": 4, "tables": {"radiomics": "abc"},
                        "classifier_params": {"C": 2.0}}
    (tmp_path / "run.json").write_text(json.dumps({"selection": {"preset": "guo2024", "mrmr_k": 10}}), encoding="utf-8")
    assert train_settings(load_run(tmp_path), "deep", "lr") == {"selection": {"preset": "guo2024", "mrmr_k": 10}}
    with pytest.raises(ConfigError, match="not in the run's classifiers.*Did you mean 'svm'"):
        train_settings({"classifiers": ["svm"]}, "radiomics", "svn")
    (tmp_path / "run.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping of run settings"):
        load_run(tmp_path)
