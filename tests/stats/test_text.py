"""The aligned text rendering of a compare report."""

from __future__ import annotations

from alnm_ray.stats import evaluate_models, format_compare_table


def test_table_lists_models_metrics_and_comparisons(preds):
    y, models = preds
    rep = evaluate_models(y, models, n_boot=50)
    text = format_compare_table(rep)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "m0", "m1", "m2"]
    auc = next(line for line in lines if line.startswith("AUC"))
    assert f"{rep['models']['m1']['auc']:.3f}" in auc
    assert any(line.startswith("Hosmer-Lemeshow p") for line in lines)
    assert "Net benefit" in text and "treat all" in text
    assert "Comparisons (positive = a better)" in text
    row = next(line for line in lines if line.startswith("m0") and " m2 " in f" {line} ")
    assert f"{rep['comparisons'][1]['delong_z']:.2f}" in row
    # Columns are aligned: every row of the model block has the same width.
    block = lines[lines.index("Models") + 1: lines.index("Net benefit") - 1]
    assert len({len(line) for line in block}) == 1


def test_single_model_and_missing_values(preds):
    y, models = preds
    rep = evaluate_models(y, {"only": models["m0"]}, threshold=0.9999, n_boot=20)
    text = format_compare_table(rep)
    assert "Comparisons: none (one model)" in text
    assert "n/a" in text  # PPV is undefined when nobody is predicted positive


def test_an_interval_that_excludes_its_estimate_is_marked_and_explained(preds):
    from alnm_ray.stats import evaluate_models
    from alnm_ray.stats.text import EXCLUDES_MARK, EXCLUDES_NOTE

    y, models = preds
    report = evaluate_models(y, {"m0": models["m0"]}, n_boot=200, seed=1)
    plain = format_compare_table(report)
    assert EXCLUDES_MARK not in plain and EXCLUDES_NOTE not in plain
    sens = report["models"]["m0"]["sensitivity"]
    report["models"]["m0"]["ci_bootstrap"]["sensitivity"] = [sens + 0.01, sens + 0.05]
    report["models"]["m0"]["auc_ci_bootstrap"] = [0.0, report["models"]["m0"]["auc"] - 0.01]
    text = format_compare_table(report)
    assert text.count(EXCLUDES_MARK) == 3  # two intervals and the note
    assert text.rstrip().endswith(EXCLUDES_NOTE) and "--n-boot" in EXCLUDES_NOTE
