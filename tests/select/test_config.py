"""SelectionConfig: presets, validation messages, YAML round trip, stable hash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.select import PRESETS, SelectionConfig, build_selection_pipeline


def test_guo2024_preset_is_the_paper():
    c = SelectionConfig.preset("guo2024")
    # "a bidirectional consistency model": two-way, consistency = ICC(3,1)
    assert (c.icc_threshold, c.icc_kind, c.icc_inclusive, c.icc_pairs) == (0.9, "ICC3", False,
                                                                           ("B", "A2"))
    assert (c.smote, c.smote_k, c.zscore) == (True, 5, True)
    assert c.steps == ("univariate", "correlation", "mrmr", "lasso")
    assert (c.univariate_alpha, c.correlation_methods, c.correlation_threshold) == (
        0.05, ("spearman",), 0.9)
    assert (c.lasso_repeats, c.lasso_folds) == (20, 10)


def test_liu2025_preset_is_the_paper():
    liu = PRESETS["liu2025"]
    assert liu.icc_threshold is None and not liu.smote and liu.zscore  # one reader: no ICC
    assert liu.steps == ("differential", "correlation", "lasso")
    assert (liu.differential_alpha, liu.differential_test) == (0.05, "auto")
    assert liu.correlation_methods == ("spearman", "pearson") and liu.correlation_threshold == 0.75
    assert (liu.lasso_repeats, liu.lasso_folds) == (1, 5)
    # no ICC, so no reader table is needed
    assert [n for n, _ in build_selection_pipeline("liu2025").steps] == [
        "zscore", "differential", "spearman", "pearson", "lasso"]


def test_gu2025_preset_is_the_paper():
    gu = PRESETS["gu2025"]
    assert (gu.icc_threshold, gu.icc_inclusive, gu.icc_pairs) == (0.75, True, ("B",))
    assert not gu.smote and gu.zscore
    assert gu.steps_for("radiomics") == ("differential", "correlation", "lasso")
    assert gu.differential_test == "ttest"
    assert gu.correlation_methods == ("pearson",) and gu.correlation_threshold == 0.9
    assert (gu.lasso_repeats, gu.lasso_folds) == (1, 10)
    assert gu.steps_for("deep") == ("importance",) and gu.importance_k == "curve"
    assert gu.steps_for("clinical") == ("univariate",)
    assert "mutual_info" in PRESETS["zhang2025"].steps


def _readers(rng, readers):
    """Long radiomics rows of 40 patients for reader A; the other ``readers`` re-read 20 of them."""
    ids = [f"P{i:02d}" for i in range(40)]
    base = {f"original_firstorder_F{j}": rng.normal(size=40) for j in range(4)}
    # F3 is unreliable between readers (pure noise in the second reading)
    frames = [pd.DataFrame({"patient_id": ids, "sequence": "DCE_P1", "reader": "A", **base})]
    for reader in readers:
        frames.append(pd.DataFrame({"patient_id": ids[:20], "sequence": "DCE_P1", "reader": reader,
                                    **{f: (rng.normal(size=20) if f.endswith("F3") else v[:20] + 0.05 * rng.normal(size=20))
                                       for f, v in base.items()}}))
    X = pd.DataFrame({f"DCE_P1__{f}": v for f, v in base.items()}, index=ids)
    return pd.concat(frames, ignore_index=True), X


def test_guo_icc3_with_pairs_b_and_a2_is_expressible(rng):
    table, X = _readers(rng, ("B", "A2"))
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    pipe = build_selection_pipeline(PRESETS["guo2024"], kinds={"radiomics"})
    icc = pipe.named_steps["icc"]
    assert (icc.kind, tuple(icc.pairs), icc.threshold, icc.inclusive) == ("ICC3", ("B", "A2"), 0.9, False)
    icc.fit(X, y, reader_table=table)
    assert list(icc.icc_.columns) == ["B", "A2"]
    assert icc.selected_features_ == [f"DCE_P1__original_firstorder_F{j}" for j in range(3)]


def test_gu_inter_reader_icc_runs_on_data_without_a_repeat_reader(rng):
    """pairs=("B",): no A2 rows anywhere, and neither the pipeline nor the engines ask for them."""
    from alnm_ray.model.fitting import fit_selection

    table, X = _readers(rng, ("B",))
    assert "A2" not in set(table["reader"])
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    cfg = PRESETS["gu2025"].replace(steps=("correlation",), kind_steps={})
    sel = fit_selection(X, y, cfg, reader_table=table, seed=0)
    icc = sel.pipeline.named_steps["icc"]
    assert (icc.kind, tuple(icc.pairs), icc.threshold, icc.inclusive) == ("ICC2", ("B",), 0.75, True)
    assert list(icc.icc_.columns) == ["B"] and icc.fallback_ is None
    assert "DCE_P1__original_firstorder_F3" not in sel.selected
    # The same config with the old intra-reader pair does need A2 and says so.
    with pytest.raises(SchemaMismatchError, match="no rows for reader 'A2'"):
        fit_selection(X, y, cfg.replace(icc_pairs=("B", "A2")), reader_table=table, seed=0)


def test_new_fields_are_hashed():
    base = SelectionConfig.preset("liu2025")
    for change in ({"differential_alpha": 0.01}, {"differential_test": "ttest"},
                   {"differential_categorical": ("grade",)}, {"differential_max_levels": 3},
                   {"importance_k": "curve"}, {"importance_curve_max_k": 5},
                   {"importance_curve_folds": 3}, {"importance_curve_rule": "1se"},
                   {"cnn1d_epochs": 5}, {"cnn1d_noise_std": 0.1}):
        assert base.replace(**change).config_hash() != base.config_hash(), change


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_yaml_round_trip_and_hash(name):
    c = SelectionConfig.preset(name)
    back = SelectionConfig.from_yaml(c.to_yaml())
    assert back == c
    assert back.config_hash() == c.config_hash()
    assert c.replace(seed=c.seed + 1).config_hash() != c.config_hash()


def test_from_dict_starts_from_preset():
    c = SelectionConfig.from_dict({"preset": "guo2024", "lasso_repeats": 2, "steps": ["lasso"]})
    assert c.lasso_repeats == 2 and c.steps == ("lasso",) and c.smote_k == 5


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": ("univariate", "mrmrr")}, "steps: expected one of .* Did you mean 'mrmr'"),
    ({"icc_threshold": 1.5}, r"icc_threshold: expected a value in \[0.0, 1.0\]; got 1.5"),
    ({"icc_kind": "ICC(2,1)"}, "icc_kind: expected one of ICC1, ICC2, ICC3"),
    ({"correlation_drop": "rand"}, "Did you mean 'random'"),
    ({"lasso_folds": 1}, "lasso_folds"),
    ({"lasso_reapeats": 3}, "unknown field.*Did you mean 'lasso_repeats'"),
    ({"differential_alpha": 0.0}, r"differential_alpha: expected a value in \(0.0, 1.0\)"),
    ({"importance_k": "Curve"}, "importance_k: .*Did you mean 'curve'"),
    ({"cnn1d_epochs": 0}, "cnn1d_epochs"),
    ({"kind_steps": {"deep": ["cnn"]}}, r"kind_steps\[deep\]: .*Did you mean 'cnn1d'"),
])
def test_bad_values_are_explained(changes, message):
    with pytest.raises(ConfigError, match=message):
        SelectionConfig.preset("guo2024").replace(**changes)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="Did you mean 'guo2024'"):
        SelectionConfig.preset("guo2042")
