"""Protocol files: schema with did-you-mean, shipped files and their citations, checks listed at once."""

from __future__ import annotations

import pathlib

import pandas as pd
import pytest
import yaml

from alnm_ray.protocol import SHIPPED, ProtocolError, load_protocol, parse_protocol
from alnm_ray.protocol.check import check_protocol
from alnm_ray.protocol.citations import leaf_lines, quote_found, uncited
from alnm_ray.protocol.load import shipped_text

REFERENCE = pathlib.Path("/work/shared/reference")


def _edited(name: str, **changes) -> str:
    data = yaml.safe_load(shipped_text(name))
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        if value is None and last in node:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocols_load_and_build_every_stage_config(name):
    p = load_protocol(name)
    assert p.name == name and p.version >= 1 and len(p.hash) == 64
    assert p.selection_config().name == name
    assert p.extraction_params() is not None
    assert p.training_split == "train"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_stated_value_quotes_the_paper_or_is_assumed(name):
    p = load_protocol(name)
    keys = [a.key for a in p.assumed]
    assert uncited(p.text, keys) == []
    paper = (REFERENCE / f"{name}.txt").read_text(encoding="utf-8") if REFERENCE.is_dir() else None
    quoted = [(leaf.path, q) for leaf in leaf_lines(p.text) for q in leaf.quotes]
    assert len(quoted) >= 15
    if paper is not None:
        missing = [(path, q) for path, q in quoted if not quote_found(q, paper)]
        assert missing == []


@pytest.mark.parametrize("name", SHIPPED)
def test_assumed_entries_name_real_keys_with_the_values_used(name):
    p = load_protocol(name)
    for a in p.assumed:
        node, parent = p.data, None
        for key in a.key.split("."):
            assert isinstance(node, dict) and key in node, a.key
            parent, node = node, node[key]
        if isinstance(node, (int, float, str, list)) and not isinstance(a.value, str) or node is None:
            assert node == a.value, a.key
        assert len(a.reason) > 10


def test_uncited_value_is_found():
    text = shipped_text("guo2024").replace('    # "retaining features with an ICC > 0.9"\n    icc_threshold',
                                           "    icc_threshold", 1)
    p = parse_protocol(text, "edited")
    assert [leaf.path for leaf in uncited(p.text, [a.key for a in p.assumed])] == [
        "selection.shared.icc_threshold"]


def test_a_quote_not_in_the_paper_is_not_found():
    assert not quote_found("features with an ICC > 0.8", "retaining features with an ICC > 0.9")
    assert quote_found('"A ... C"'.strip('"'), "A B C")


def test_schema_problems_are_all_listed_with_suggestions():
    text = _edited("guo2024", cv__repats=3, classifiers__models={"mlpp": {}},
                   selection__radiomics={"steps": ["lasso", "mrmrr"]})
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, "bad.yaml")
    problems = info.value.problems
    text = "\n".join(problems)
    assert "unknown key 'repats'" in text and "Did you mean 'repeats'?" in text
    assert "'mlpp'" in text and "Did you mean 'mlp'?" in text
    assert "'mrmrr'" in text and "Did you mean 'mrmr'?" in text
    assert len(problems) >= 3


def test_unknown_name_suggests_a_shipped_protocol():
    with pytest.raises(ProtocolError, match="Did you mean 'liu2025'"):
        load_protocol("liu2024")


def _manifest(sequences, readers, splits, n=6):
    rows = []
    for i in range(n):
        for seq in sequences:
            for reader in readers:
                rows.append({"cohort": "c", "center": "h1", "patient_id": f"P{i}", "sequence": seq,
                             "reader": reader, "image": "i.nii.gz", "mask": "m.nii.gz", "label": i % 2,
                             "split": splits[i % len(splits)]})
    return pd.DataFrame(rows)


def test_check_lists_every_data_problem_at_once():
    p = load_protocol("guo2024")
    manifest = _manifest(["MG_CC", "T2WI"], ["A", "B"], ["train", "holdout"])
    problems = check_protocol(p, [manifest])
    text = "\n".join(problems)
    assert "sequence(s) MG_MLO, DWI, ADC, DCE_P2" in text
    assert "reader A2" in text and "icc_threshold: null" in text
    assert "split 'test'" in text
    assert len(problems) == 4  # sequences, readers B (some missing) and A2, split


def test_check_gu2025_needs_reader_b_only_and_its_clinical_variables():
    p = load_protocol("gu2025")
    manifest = _manifest(["DCE_P1"], ["A", "B"], ["train", "validation", "external"])
    clinical = pd.DataFrame({"patient_id": [f"P{i}" for i in range(6)], "age": 50})
    problems = [q for q in check_protocol(p, [manifest], clinical) if not q.startswith("preprocessing")]
    text = "\n".join(problems)
    assert "reader" not in text
    assert "max_diameter_cm" in text and len(problems) == 1


def test_check_refuses_components_this_build_lacks():
    text = _edited("guo2024", classifiers__models={"mlp": {}, "lr": {}},
                   final_model={"rule": "fixed", "feature_set": "radiomicz", "classifier": "mlp"})
    problems = check_protocol(parse_protocol(text, "x"))
    assert any("final_model.feature_set" in q and "Did you mean 'radiomics'" in q for q in problems)


def test_selection_blocks_of_different_steps_are_routed_per_kind():
    gu = load_protocol("gu2025").selection_dict()
    assert gu["kind_steps"]["deep"] == ["cnn1d", "importance"]
    guo = load_protocol("guo2024").selection_dict()
    assert guo["kind_steps"] == {}  # radiomics and deep share one chain: joint selection


def test_quick_shrinks_the_cv_and_lasso_only():
    p = load_protocol("guo2024")
    assert p.cv(quick=True) == (2, 3, 0) and p.cv() == (20, 5, 0)
    quick = p.selection_dict(quick=True)
    assert quick["lasso_repeats"] == 1 and quick["lasso_folds"] == 3 and quick["mrmr_k"] == 20
