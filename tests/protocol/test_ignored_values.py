"""`protocol check` flags every value the build would not use, so nothing is dropped silently."""

from __future__ import annotations

import copy

import pytest
import yaml

from alnm_ray.protocol import load_protocol
from alnm_ray.protocol.check import check_protocol, ignored_problems
from alnm_ray.protocol.load import SHIPPED, parse_protocol, shipped_text


def _variant(name: str, edit) -> object:
    data = yaml.safe_load(shipped_text(name))
    edit(data)
    return parse_protocol(yaml.safe_dump(data, sort_keys=False), f"{name}-variant")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocols_state_nothing_the_build_ignores(name) -> None:
    assert ignored_problems(load_protocol(name)) == []


def test_post_fusion_settings_without_a_post_fusion_set() -> None:
    p = _variant("guo2024", lambda d: d["classifiers"].update(post_fusion={"meta_params": {"C": 2},
                                                                            "inner_folds": 3}))
    problems = ignored_problems(p)
    assert problems == [
        "classifiers.post_fusion.inner_folds: expected post-fusion settings only with feature_sets.post; "
        "found inner_folds = 3 and no post-fusion set, so it would be ignored. Remove it from a copy of the "
        "protocol (`alnm-ray protocol show guo2024 > mine.yaml`), or add the post-fusion sets.",
        "classifiers.post_fusion.meta_params: expected post-fusion settings only with feature_sets.post; "
        "found meta_params = {'C': 2} and no post-fusion set, so it would be ignored. Remove it from a copy of "
        "the protocol (`alnm-ray protocol show guo2024 > mine.yaml`), or add the post-fusion sets."]
    assert problems[0] in check_protocol(p)


def test_base_seed_final_model_deep_and_selection_blocks() -> None:
    def edit(d):
        d["classifiers"]["models"]["lr"] = {}
        d["classifiers"]["post_fusion"]["base"] = ["lr"]
        d["selection"]["shared"]["seed"] = 7
        d["final_model"] = {"rule": "best_cv_auc", "classifier": "sgd"}
    problems = "\n".join(ignored_problems(_variant("liu2025", edit)))
    assert "classifiers.post_fusion.base: expected the classifiers of classifiers.models (sgd, lr)" in problems
    assert "selection.shared.seed: expected the value of cv.seed (0)" in problems and "found 7" in problems
    assert "final_model.classifier: expected no classifier with rule 'best_cv_auc'" in problems

    def radiomics_only(d):
        d["feature_sets"] = {"pre": ["radiomics"]}
        d["report"] = {}
        d["final_model"] = {"rule": "best_cv_auc"}
    problems = "\n".join(ignored_problems(_variant("guo2024", radiomics_only)))
    assert "deep: expected a deep section only when a feature set reads deep features" in problems
    assert "selection.deep: expected a selection block only for kinds a feature set reads" in problems


def test_bad_classifier_parameters_and_report_values() -> None:
    def edit(d):
        d["classifiers"]["models"]["svm"] = {"kernal": "linear"}
        d["report"]["odds_ratio_table"] = True
        d["report"]["waterfall"] = ["combined/mlp", "combined/rf"]
    problems = "\n".join(ignored_problems(_variant("guo2024", edit)))
    assert "classifiers.models.svm: classifier 'svm': invalid parameter(s) ['kernal']" in problems
    assert "report.odds_ratio_table: expected False" in problems
    assert "report.waterfall: model combined/rf: expected a model the protocol fits" in problems
    assert "combined/mlp" not in problems.split("report.waterfall")[1]


def test_a_copy_is_not_changed_by_checking() -> None:
    p = load_protocol("liu2025")
    before = copy.deepcopy(p.data)
    ignored_problems(p)
    assert p.data == before
