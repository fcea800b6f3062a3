"""Zhang 2025 as a protocol: per-ROI scores, stepwise clinical-radiomics model, nomogram, four sets, readers.

The end-to-end runs use a copy of the shipped protocol whose only change is
the VGG-19 input grid (64 x 64 instead of 224 x 224), so that two small
cohorts extract and embed in about a minute each on two CPU cores.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from alnm_ray.protocol import load_protocol
from alnm_ray.protocol.check import check_protocol
from alnm_ray.protocol.load import parse_protocol, shipped_text
from alnm_ray.protocol.scores import ScoreModelSpec, spec_problems

ALNM = [str(pathlib.Path(sys.executable).with_name("alnm-ray"))]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_DEDUP_LOGS": "0"}
    return subprocess.run([*ALNM, *args], capture_output=True, text=True, encoding="utf-8", env=env, check=False)


def _run(tmp: pathlib.Path, *, signal: float, patients: int, seed: int) -> pathlib.Path:
    cohort = tmp / "cohort"
    res = _cli("synth", str(cohort), "--like", "zhang2025", "--patients", str(patients), "--seed", str(seed),
               "--signal", str(signal))
    assert res.returncode == 0, res.stderr[-2000:]
    data = yaml.safe_load(shipped_text("zhang2025"))
    data["deep"]["grid_2d"] = [64, 64]
    proto = tmp / "zhang2025_grid64.yaml"
    proto.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    run = tmp / "run"
    res = _cli("run", str(proto), "--manifest", str(cohort / "manifest.csv"), "--clinical",
               str(cohort / "clinical.csv"), "--store", str(tmp / "store"), "--out", str(run), "--quick",
               "--unsigned")
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-4000:])
    return run


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory) -> pathlib.Path:
    return _run(tmp_path_factory.mktemp("zhang"), signal=1.0, patients=64, seed=3)


def test_shipped_protocol_reads_its_model_section():
    p = load_protocol("zhang2025")
    spec = ScoreModelSpec.from_protocol(p)
    assert spec.rois == (("tumour_score", "US_TUMOR"), ("LN_score", "US_LN"))
    assert spec.selection == "backward" and spec.stay_p == 0.05
    assert dict(spec.readers)["junior"] == ("reader1_call", "reader1_call_assisted")
    cfg = p.selection_config()
    assert cfg.icc_threshold == 0.8 and cfg.icc_inclusive and cfg.steps == ("mutual_info", "lasso_logistic")
    assert p.embed_config().extractor == "vgg19_2d"


def test_model_section_problems_are_listed_with_suggestions():
    data = yaml.safe_load(shipped_text("zhang2025"))
    data["model"]["rois"]["LN_score"] = "US_NODE"
    data["model"]["stay"] = 0.1
    data["model"]["reader_set"] = "prospective"
    p = parse_protocol(yaml.safe_dump(data, sort_keys=False), "edited")
    problems = spec_problems(p)
    assert any("model.rois.LN_score" in q and "US_NODE" in q for q in problems)
    assert any("model.stay" in q and "Did you mean 'stay_p'" in q for q in problems)
    assert any("model.reader_set" in q and "prospective_test" in q for q in problems)


def test_check_names_missing_reader_columns():
    p = load_protocol("zhang2025")
    clinical = pd.DataFrame({"patient_id": ["P1"], "reader1_call": [1], **{v: ["x"] for v in p.clinical_variables}})
    problems = check_protocol(p, [], clinical)
    assert any("reader junior" in q and "reader1_call_assisted" in q for q in problems)


@pytest.mark.slow
def test_run_writes_every_item_of_the_paper(signal_run):
    run, out = signal_run, signal_run / "score_model"
    html = (run / "report.html").read_text(encoding="utf-8")
    for text in ("tumour_score = ", "LN_score = ", "Table 2", "Table 3", "Nomogram", "Hosmer-Lemeshow",
                 "clinical impact curve", "Reader study", "DeLong"):
        assert text in html, text
    for name in ("nomogram.png", "nomogram.svg", "nomogram_points.csv", "nomo_scores.csv", "risk_groups.csv",
                 "table2.csv", "table3.csv", "hosmer_lemeshow.csv", "clinical_impact.csv", "reader_study.csv",
                 "odds_ratios_clinical_radiomics.csv", "scores/tumour_score.json", "scores/LN_score.json"):
        assert (out / name).is_file(), name
    t3 = pd.read_csv(out / "table3.csv")
    assert set(t3["set"]) == {"training", "internal_test", "external_test", "prospective_test"}
    assert set(t3["model"]) == {"tumour_score", "LN_score", "clinical", "clinical_radiomics"}
    risk = pd.read_csv(out / "risk_groups.csv")
    assert set(risk["group"]) == {"high", "low"} and risk["cutoff_points"].nunique() == 1
    readers = pd.read_csv(out / "reader_study.csv")
    assert {"junior", "senior", "junior vs senior"} <= set(readers["reader"])
    assert (run / "bundle" / "model.json").is_file() and (run / "bundle" / "CHECKSUMS.sha256").is_file()
    # The Nomo-score maps back to the model's probability exactly.
    nomo = pd.read_csv(out / "nomo_scores.csv")
    preds = pd.read_parquet(run / "predictions.parquet")
    cr = preds[preds.feature_set == "clinical_radiomics"].merge(nomo, on=["patient_id", "set"])
    assert np.allclose(cr["probability_x"], cr["probability_y"], atol=1e-9)


@pytest.mark.slow
def test_odds_ratios_equal_a_plain_statsmodels_logit(signal_run):
    import statsmodels.api as sm

    out = signal_run / "score_model"
    table = pd.read_csv(out / "odds_ratios_clinical_radiomics.csv")
    kept = list(dict.fromkeys(table.loc[table["kept"], "variable"]))
    design = pd.read_csv(out / "design.csv")
    train = design[design["set"] == "training"]
    cols = []
    for var in kept:
        rows = table[(table.variable == var) & ~table.is_reference]
        if rows["reference"].fillna("").eq("").all():  # continuous
            cols.append(train[var].astype(float).rename(var))
        else:
            for level in rows["level"]:
                cols.append((train[var].astype(str) == str(level)).astype(float).rename(f"{var}[{level}]"))
    X = sm.add_constant(pd.concat(cols, axis=1))
    fit = sm.Logit(train["label"].to_numpy(int), X).fit(disp=0)
    ours = table[table["kept"] & ~table["is_reference"]]
    expected = np.exp(fit.params.drop("const").to_numpy())
    assert np.allclose(ours["multi_or"].to_numpy(float), expected, rtol=1e-6)
    assert np.allclose(ours["multi_p"].to_numpy(float), fit.pvalues.drop("const").to_numpy(), rtol=1e-5)
    doc = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert np.isclose(doc["clinical_radiomics"]["intercept"], fit.params["const"], rtol=1e-6)


@pytest.mark.slow
def test_label_free_cohort_stays_at_chance(tmp_path):
    run = _run(tmp_path, signal=0.0, patients=64, seed=5)
    preds = pd.read_parquet(run / "predictions.parquet")
    test = preds[(preds.feature_set == "clinical_radiomics") & (preds.set != "training")]
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(test["label"], test["probability"])
    # about 30 patients outside training: the AUC's SD under the null is about 0.11.
    assert abs(auc - 0.5) < 0.3, auc


@pytest.mark.slow
def test_score_command_reproduces_the_run_from_its_signed_document(signal_run, tmp_path):
    """`alnm-ray score BUNDLE --features` recomputes every set's scores, probabilities, Nomo-scores, risk groups."""
    import shutil

    bundle, store = signal_run / "bundle", signal_run.parent / "store"
    out = tmp_path / "scored.parquet"
    res = _cli("score", str(bundle), "--features", "radiomics", "--store", str(store), "--out", str(out),
               "--trust-unsigned")
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-3000:])
    assert "NOT VERIFIED" in res.stdout and "0 error(s)" in res.stdout
    scored = pd.read_parquet(out).set_index("patient_id")
    preds = pd.read_parquet(signal_run / "predictions.parquet")
    preds["patient_id"] = preds["patient_id"].astype(str)
    cr = preds[preds.feature_set == "clinical_radiomics"].set_index("patient_id")
    assert {"training", "internal_test", "external_test", "prospective_test"} == set(cr["set"])
    assert set(cr.index) <= set(scored.index)
    np.testing.assert_allclose(scored.loc[cr.index, "probability"], cr["probability"], rtol=0, atol=1e-9)
    nomo = pd.read_csv(signal_run / "score_model" / "nomo_scores.csv", dtype={"patient_id": str})
    nomo = nomo.set_index("patient_id")
    np.testing.assert_allclose(scored.loc[nomo.index, "nomo_score"], nomo["total"], rtol=0, atol=1e-9)
    assert (scored.loc[nomo.index, "risk_group"] == nomo["risk_group"]).all()
    design = pd.read_csv(signal_run / "score_model" / "design.csv", dtype={"patient_id": str}).set_index("patient_id")
    for name in ("tumour_score", "LN_score"):
        np.testing.assert_allclose(scored.loc[design.index, name], design[name], rtol=0, atol=1e-9)
    # Verified like every bundle: unsigned is refused without the flag; an altered file before it is parsed.
    res = _cli("score", str(bundle), "--features", "radiomics", "--store", str(store), "--out", str(out))
    assert res.returncode != 0 and "unsigned" in (res.stdout + res.stderr).lower()
    altered = tmp_path / "altered"
    shutil.copytree(bundle, altered)
    text = (altered / "model.json").read_text(encoding="utf-8")
    (altered / "model.json").write_text(text.replace('"intercept": ', '"intercept": 1', 1), encoding="utf-8")
    res = _cli("score", str(altered), "--features", "radiomics", "--store", str(store), "--out", str(out),
               "--trust-unsigned")
    assert res.returncode != 0 and "model.json" in (res.stdout + res.stderr)
    res = _cli("score", str(bundle), "--manifest", str(signal_run.parent / "cohort" / "manifest.csv"), "--store",
               str(store), "--trust-unsigned")
    assert res.returncode != 0 and "score-nomogram bundle" in res.stderr and "--features" in res.stderr


@pytest.mark.slow
def test_scores_are_log_odds_with_paper_sized_odds_ratios(signal_run):
    """Each score is the logistic LASSO's linear predictor: a univariate OR per unit far below a linear
    probability score's (~10^5 on such cohorts); small training sets shrink the LASSO, which raises it."""
    out = signal_run / "score_model"
    for name in ("tumour_score", "LN_score"):
        doc = json.loads((out / "scores" / f"{name}.json").read_text(encoding="utf-8"))
        assert doc["scale"] == "log-odds"
    table = pd.read_csv(out / "odds_ratios_clinical_radiomics.csv")
    ors = table.set_index("variable").loc[["tumour_score", "LN_score"], "uni_or"].astype(float)
    assert ((ors > 1.0) & (ors < 1000.0)).all(), ors
