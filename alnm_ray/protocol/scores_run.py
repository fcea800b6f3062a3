"""The ``score_nomogram`` stages of ``alnm-ray run`` (Zhang 2025): evaluate, bundle, report.

The runner calls :func:`run_score_stages` after ``extract`` and ``embed`` when
the protocol has ``model: {kind: score_nomogram}``.  The stages are the
runner's own (same ``RUN/stages.json`` records, resumable):

* ``sweep`` -- skipped (the paper runs no classifier sweep; recorded);
* ``evaluate`` -- :class:`~alnm_ray.protocol.scores.ScoreNomogramModel` fitted
  on the training split only, then every set scored with the frozen formulas:
  ``metrics.csv`` / ``predictions.parquet`` / ``comparisons.csv`` in the spine's
  format, and under ``RUN/score_model/`` the score formulas, Table 2 (odds
  ratios), Table 3, Hosmer-Lemeshow, the nomogram (PNG + SVG), its points table,
  Nomo-scores, risk groups, clinical impact counts and the reader study;
* ``bundle`` -- the model as one JSON document (no pickles), checksummed and
  signed with the run's key (:func:`freeze_score_bundle`);
* ``report`` -- :func:`alnm_ray.report.scores.build_score_report`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.protocol.scores import (CLINICAL, CLINICAL_RADIOMICS, LOGISTIC, SCORE_CLASSIFIER,
                                      ScoreModelSpec, ScoreNomogramModel)

#: Folder of the score model's outputs inside the run folder.
OUT_DIR = "score_model"
#: The bundle's model document.
MODEL_FILE = "model.json"
BUNDLE_META = "bundle.json"
#: Store versions of the tables read besides the run's pins (the clinical table).
INPUTS_FILE = "inputs.json"


def classifier_of(name: str) -> str:
    """``lasso`` for a score, ``logistic`` for the clinical and clinical-radiomics models."""
    return LOGISTIC if name in (CLINICAL, CLINICAL_RADIOMICS) else SCORE_CLASSIFIER


def load_score_inputs(p: Any, opts: Any, store: Any, pins: dict[str, str], clinical: str | None
                      ) -> tuple[pd.DataFrame, pd.Series, dict[str, list[str]], Any, pd.DataFrame]:
    """Wide imaging features + clinical columns, labels, set membership, reader ratings, raw clinical table.

    Returns:
        ``(X, y, members, reader_ratings, clinical_table)``; ``X`` is indexed by patient id.
    """
    from alnm_ray.manifest.table import read_table
    from alnm_ray.protocol.evaluate import set_membership
    from alnm_ray.protocol.runner import tune_config
    from alnm_ray.tune import load_inputs

    cfg = tune_config(p, opts, pins, clinical)
    cfg = cfg.replace(feature_sets=("radiomics", "deep"))
    full = load_inputs(store, cfg)
    y = full.y.copy()
    y.index = y.index.astype(str)
    parts = []
    for name in ("radiomics", "deep"):
        X = full.sets[name].copy()
        X.index = X.index.astype(str)
        parts.append(X)
    X = pd.concat(parts, axis=1).loc[y.index]
    X = X.loc[:, ~X.columns.duplicated()]
    table = read_table(opts.clinical, kind="clinical table") if opts.clinical else pd.DataFrame(
        {C.COL_PATIENT: list(y.index)})
    table[C.COL_PATIENT] = table[C.COL_PATIENT].astype(str)
    table = table.drop_duplicates(C.COL_PATIENT).set_index(C.COL_PATIENT)
    variables = [v for v in p.clinical_variables if v in table.columns]
    X = X.join(table[variables], how="left")
    cohort = full.cohort.copy()
    cohort[C.COL_PATIENT] = cohort[C.COL_PATIENT].astype(str)
    members = {k: [i for i in v if i in y.index]
               for k, v in set_membership(p, cohort.set_index(C.COL_PATIENT)[C.COL_SPLIT]).items()}
    return X, y, members, full.reader_ratings, table


def _comparisons(spec: ScoreModelSpec, preds: pd.DataFrame) -> pd.DataFrame:
    from alnm_ray.stats import continuous_nri, delong_test, idi

    rows = []
    for set_name, sub in preds.groupby("set", sort=False):
        by = {fs: g.sort_values(C.COL_PATIENT) for fs, g in sub.groupby("feature_set")}
        a = by[CLINICAL_RADIOMICS]
        y = a[C.COL_LABEL].to_numpy(int)
        if np.unique(y).size < 2:
            continue
        pa = a["probability"].to_numpy(float)
        for other in spec.compare_with:
            pb = by[other]["probability"].to_numpy(float)
            row: dict[str, Any] = {"comparison": f"{CLINICAL_RADIOMICS} vs {other}", "set": set_name,
                                   "model_a": f"{CLINICAL_RADIOMICS}/{LOGISTIC}",
                                   "model_b": f"{other}/{classifier_of(other)}", "n": len(y)}
            if "delong" in spec.tests:
                t = delong_test(y, pa, pb)
                row.update({"auc_a": t.auc_a, "auc_b": t.auc_b, "delong_z": t.z, "delong_p": t.p})
            if "nri" in spec.tests:
                nri = continuous_nri(y, pa, pb)
                row.update({"nri": nri.nri, "nri_p": nri.p})
            if "idi" in spec.tests:
                res = idi(y, pa, pb)
                row.update({"idi": res.idi, "idi_p": res.p})
            rows.append(row)
    return pd.DataFrame(rows)


def table2(model: ScoreNomogramModel) -> pd.DataFrame:
    """The paper's Table 2: univariate OR (95 % CI), p; clinical model and clinical-radiomics model."""
    def fmt(orr: float, lo: float, hi: float) -> str:
        return "NA" if not np.isfinite(orr) else f"{orr:.2f} ({lo:.2f}, {hi:.2f})"

    def pfmt(p: float) -> str:
        return "NA" if not np.isfinite(p) else ("<.01" if p < 0.01 else f"{p:.2f}".lstrip("0"))

    full = model.model_.odds_ratio_table_
    clin = model.clinical_model_.odds_ratio_table_.set_index(["variable", "level"])
    rows = []
    for r in full.itertuples(index=False):
        label = r.variable if r.level in ("", r.variable) else f"{r.variable} ({r.level})"
        if r.is_reference:
            rows.append({"characteristic": f"{r.variable} ({r.level})", "univariate OR (95% CI)": "Reference",
                         "univariate p": "", "clinical model OR (95% CI)": "", "clinical model p": "",
                         "clinical-radiomics OR (95% CI)": "", "clinical-radiomics p": ""})
            continue
        c = clin.loc[(r.variable, r.level)] if (r.variable, r.level) in clin.index else None
        rows.append({"characteristic": label,
                     "univariate OR (95% CI)": fmt(r.uni_or, r.uni_or_low, r.uni_or_high),
                     "univariate p": pfmt(r.uni_p),
                     "clinical model OR (95% CI)": "NA" if c is None else fmt(c.multi_or, c.multi_or_low,
                                                                              c.multi_or_high),
                     "clinical model p": "NA" if c is None else pfmt(c.multi_p),
                     "clinical-radiomics OR (95% CI)": fmt(r.multi_or, r.multi_or_low, r.multi_or_high),
                     "clinical-radiomics p": pfmt(r.multi_p)})
    return pd.DataFrame(rows)


def evaluate_scores(p: Any, opts: Any, store: Any, pins: dict[str, str], clinical: str | None,
                    run_dir: Path) -> dict[str, Any]:
    """Fit on the training split, score every set, write every table and figure; the stage record."""
    from alnm_ray.tune.inputs import store_clinical
    from alnm_ray.csvsafe import neutralize_frame
    from alnm_ray.plots import plot_nomogram, save_figure
    from alnm_ray.protocol.evaluate import TRAINING, metrics_row
    from alnm_ray.stats.agreement import reader_study
    from alnm_ray.stats.calibration import hosmer_lemeshow
    from alnm_ray.stats.decision import clinical_impact
    from alnm_ray.model.inputs import prepare_reader_table

    spec = ScoreModelSpec.from_protocol(p)
    out = run_dir / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    X, y, members, ratings, table = load_score_inputs(p, opts, store, pins, clinical)
    # The clinical factors the model was fitted on, as a store version: `alnm-ray score` reads them there.
    inputs = {C.TABLE_CLINICAL: store_clinical(store, opts.clinical)} if opts.clinical else {}
    (out / INPUTS_FILE).write_text(json.dumps(inputs, indent=1), encoding="utf-8")
    sel = p.selection_config(quick=opts.quick)
    reader_table = prepare_reader_table(sel, {"radiomics": X[[c for c in X.columns if "__original" in c]]},
                                        ratings)
    train = members[TRAINING]
    model = ScoreNomogramModel(spec, sel, tuple(p.clinical_variables), reader_table, seed=p.cv()[2])
    model.fit(X.loc[train], y.loc[train].to_numpy(int))
    roles = {TRAINING: "training", **{vs.name: vs.role for vs in p.validation_sets}}
    rows, preds, hl, impact, nomo, risk_sets = [], [], [], [], [], {}
    for set_name, ids in members.items():
        if not ids:
            continue
        yy = y.loc[ids].to_numpy(int)
        probs = model.predict_models(X.loc[ids])
        for name, prob in probs.items():
            thr = model.thresholds_[name]
            rows.append({"set": set_name, "role": roles[set_name], "feature_set": name,
                         "classifier": classifier_of(name), "n": len(ids), "n_positive": int(yy.sum()),
                         **metrics_row(yy, prob, thr)})
            preds.append(pd.DataFrame({C.COL_PATIENT: ids, "set": set_name, "feature_set": name,
                                       "classifier": classifier_of(name), C.COL_LABEL: yy,
                                       "probability": prob, "threshold": thr}))
            if np.unique(yy).size == 2:
                h = hosmer_lemeshow(yy, prob, g=min(10, max(3, len(yy) // 5)))
                hl.append({"set": set_name, "model": name, "n": len(yy), "statistic": h.statistic,
                           "df": h.df, "p": h.p, "groups": h.groups})
        ci = clinical_impact(yy, probs[CLINICAL_RADIOMICS], np.round(np.arange(0.05, 1.0, 0.05), 2))
        impact.append(pd.DataFrame({"set": set_name, "threshold": ci.thresholds, "n_high_risk": ci.n_high_risk,
                                    "n_high_risk_events": ci.n_high_risk_events, "population": ci.population}))
        pts = model.nomo_scores(X.loc[ids])
        pts.insert(0, "set", set_name)
        pts.insert(1, C.COL_LABEL, yy)
        nomo.append(pts.rename_axis(C.COL_PATIENT).reset_index())
        risk_sets[set_name] = (pts["total"].to_numpy(), yy)
    metrics = pd.DataFrame(rows)
    predictions = pd.concat(preds, ignore_index=True)
    comps = _comparisons(spec, predictions)
    neutralize_frame(metrics).to_csv(run_dir / "metrics.csv", index=False)
    predictions.to_parquet(run_dir / "predictions.parquet", index=False)
    neutralize_frame(comps).to_csv(run_dir / "comparisons.csv", index=False)
    # Scores: formulas as JSON and text.
    scores_dir = out / "scores"
    scores_dir.mkdir(exist_ok=True)
    for name, roi in model.rois_.items():
        (scores_dir / f"{name}.json").write_text(json.dumps(roi.to_dict(), indent=1), encoding="utf-8")
    formulas = model.formulas()
    (out / "formulas.txt").write_text("\n\n".join(formulas.values()) + "\n", encoding="utf-8")
    # Table 2 and the raw odds-ratio tables.
    model.model_.to_csv(out / "odds_ratios_clinical_radiomics.csv")
    model.clinical_model_.to_csv(out / "odds_ratios_clinical.csv")
    neutralize_frame(table2(model)).to_csv(out / "table2.csv", index=False)
    steps = [{"model": n, **s} for n, m in ((CLINICAL_RADIOMICS, model.model_), (CLINICAL, model.clinical_model_))
             for s in m.steps_]
    pd.DataFrame(steps, columns=["model", "step", "removed", "p"]).to_csv(out / "backward_steps.csv", index=False)
    # Table 3: the four models on the four sets.
    t3 = metrics[["set", "feature_set", "n", "auc", "auc_low", "auc_high", "accuracy", "sensitivity",
                  "specificity", "ppv", "npv", "threshold"]].rename(columns={"feature_set": "model"})
    t3.to_csv(out / "table3.csv", index=False)
    pd.DataFrame(hl).to_csv(out / "hosmer_lemeshow.csv", index=False)
    pd.concat(impact, ignore_index=True).to_csv(out / "clinical_impact.csv", index=False)
    # Nomogram, points table, Nomo-scores and risk groups.
    save_figure(plot_nomogram(model.nomogram_, title="Nomogram: clinical-radiomics model"), out / "nomogram")
    model.nomogram_.points_table().to_csv(out / "nomogram_points.csv", index=False)
    model.nomogram_.probability_table().to_csv(out / "nomogram_probability.csv", index=False)
    pd.concat(nomo, ignore_index=True).to_csv(out / "nomo_scores.csv", index=False)
    model.risk_.summary(risk_sets).to_csv(out / "risk_groups.csv", index=False)
    # Reader study on the reader set.
    record_readers: dict[str, Any] = {}
    if spec.readers and spec.reader_set in members and members[spec.reader_set]:
        ids = members[spec.reader_set]
        rt = table.loc[ids, [c for _, pair in spec.readers for c in pair]].copy()
        rt[C.COL_LABEL] = y.loc[ids].to_numpy(int)
        rt = rt.dropna()
        rs = reader_study(rt, dict(spec.readers), C.COL_LABEL)
        rs.to_csv(out / "reader_study.csv", index=False)
        record_readers = {"set": spec.reader_set, "patients": int(len(rt))}
    design = pd.concat([model.design(X.loc[ids]).assign(set=name, label=y.loc[ids].to_numpy(int))
                        for name, ids in members.items() if ids])
    design.rename_axis(C.COL_PATIENT).reset_index().to_csv(out / "design.csv", index=False)
    (out / MODEL_FILE).write_text(json.dumps(model.to_document(), indent=1, default=str), encoding="utf-8")
    fallbacks = {n: r.fallback_ for n, r in model.rois_.items() if r.fallback_}
    return {"files": {"metrics": str(run_dir / "metrics.csv"), "predictions": str(run_dir / "predictions.parquet"),
                      "comparisons": str(run_dir / "comparisons.csv"), "score_model": str(out)},
            "models": int(metrics[["feature_set"]].drop_duplicates().shape[0]),
            "kept": list(model.model_.kept_), "clinical_kept": list(model.clinical_model_.kept_),
            "score_features": {n: list(r.score_.feature_names) for n, r in model.rois_.items()},
            "fallbacks": fallbacks, "clinical_dropped": model.dropped_, "readers": record_readers,
            "tables": inputs,
            "training_patients": len(train)}


def freeze_score_bundle(p: Any, run_dir: Path, opts: Any, pins: dict[str, str]) -> dict[str, Any]:
    """The clinical-radiomics model as a signed folder: ``model.json``, ``bundle.json``, checksums, signature."""
    import hashlib
    import shutil

    from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE
    from alnm_ray.score.signing import resolve_signing_key, sign_checksums

    key = resolve_signing_key(opts.signing_key, unsigned=opts.unsigned)
    out = run_dir / "bundle"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    doc = json.loads((run_dir / OUT_DIR / MODEL_FILE).read_text(encoding="utf-8"))
    inputs_path = run_dir / OUT_DIR / INPUTS_FILE
    inputs = json.loads(inputs_path.read_text(encoding="utf-8")) if inputs_path.is_file() else {}
    (out / MODEL_FILE).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    meta = {"format": "alnm-ray score-nomogram bundle", "version": 1, "feature_set": CLINICAL_RADIOMICS,
            "classifier": LOGISTIC, "protocol": {"name": p.name, "version": p.version, "hash": p.hash},
            "tables": {**pins, **inputs}, "reader": p.reader, "sequences": list(p.sequences),
            "threshold": doc["threshold"], "scoring": "alnm_ray.protocol.scores.score_from_document"}
    (out / BUNDLE_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    lines = [f"{hashlib.sha256((out / n).read_bytes()).hexdigest()}  {n}" for n in (BUNDLE_META, MODEL_FILE)]
    (out / CHECKSUM_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if key is not None:
        (out / SIGNATURE_FILE).write_bytes(sign_checksums((out / CHECKSUM_FILE).read_bytes(), key))
    return {"feature_set": CLINICAL_RADIOMICS, "classifier": LOGISTIC, "path": str(out), "kind": "score_nomogram",
            "threshold": doc["threshold"], "signed": key is not None}


def run_score_stages(p: Any, opts: Any, store: Any, pins: dict[str, str], clinical: str | None,
                     stage: Callable[[str, Callable[[], dict[str, Any]]], dict[str, Any]]) -> None:
    """Run the ``sweep`` (skipped), ``evaluate``, ``bundle`` and ``report`` stages of a score_nomogram protocol."""
    run_dir = Path(opts.out)
    stage("sweep", lambda: {"skipped": "score_nomogram model: the paper runs no classifier sweep"})
    stage("evaluate", lambda: evaluate_scores(p, opts, store, pins, clinical, run_dir))
    stage("bundle", lambda: freeze_score_bundle(p, run_dir, opts, pins))

    def report() -> dict[str, Any]:
        from alnm_ray.report.scores import build_score_report

        return {"report": str(build_score_report(run_dir))}

    stage("report", report)


# -- scoring new patients with the signed document (``alnm-ray score``) ---------------------------------

#: ``bundle.json`` format tag of a score-nomogram bundle.
BUNDLE_FORMAT = "alnm-ray score-nomogram bundle"
#: The store tables a score-nomogram bundle reads: both ROIs' handcrafted and deep features, clinical factors.
SCORE_TABLES = (C.TABLE_RADIOMICS, C.TABLE_DEEP, C.TABLE_CLINICAL)


def is_score_bundle(path: Any) -> bool:
    """True for a folder laid out as a score-nomogram bundle (file names only; nothing is read)."""
    from alnm_ray.score.bundle import METADATA_FILE

    base = Path(path)
    return (base / BUNDLE_META).is_file() and (base / MODEL_FILE).is_file() and not (base / METADATA_FILE).is_file()


def load_score_bundle(path: Any, *, trust: Any = None) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Verify a score-nomogram bundle like every bundle, then parse it.

    The signature is checked against the trusted keys before any file but
    ``CHECKSUMS.sha256`` and ``SIGNATURE.json`` is read
    (:func:`~alnm_ray.score.bundle.read_bundle_files`), then every checksum
    before anything is parsed.

    Returns:
        ``(bundle.json, model.json, SignatureCheck)``.

    Raises:
        BundleSignatureError: Unsigned / unknown signer (without ``allow_unsigned``) or a mismatch.
        BundleIntegrityError: Altered, added or removed files, or not a score-nomogram bundle.
    """
    from alnm_ray.exceptions import BundleIntegrityError
    from alnm_ray.score.bundle import read_bundle_files
    from alnm_ray.score.checksums import CHECKSUM_FILE, parse_checksums, verify_blobs
    from alnm_ray.score.signing import verify_bundle_signature

    files = read_bundle_files(path, trust=trust)
    check = verify_bundle_signature(files.source, files.checksums, files.signature, files.trust, quiet=True)
    expected = parse_checksums(files.checksums.decode("utf-8", errors="replace"),
                               source=f"{files.source}/{CHECKSUM_FILE}")
    blobs = verify_blobs(files.blobs, expected, bundle=files.source)  # nothing is parsed unless all match
    try:
        meta = json.loads(blobs[BUNDLE_META])
        doc = json.loads(blobs[MODEL_FILE])
    except (KeyError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleIntegrityError(f"bundle {files.source}: expected {BUNDLE_META} and {MODEL_FILE} holding JSON; "
                                   f"got {type(err).__name__}: {err}. Re-create it with `alnm-ray run`.") from err
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise BundleIntegrityError(f"bundle {files.source}/{BUNDLE_META}: expected format {BUNDLE_FORMAT!r}; got "
                                   f"{found!r}. Pass the bundle folder of a score_nomogram run.")
    return meta, doc, check


def score_document_rows(doc: dict[str, Any], X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every row of ``X`` with the document; a row that cannot be scored becomes an error row.

    Returns:
        ``(scored rows, errors)``; errors have ``patient_id``, ``error_type``, ``message``.
    """
    from alnm_ray.protocol.scores import score_from_document

    try:
        out = score_from_document(doc, X)
        bad = ~np.isfinite(out["probability"].to_numpy(float))
    except (ValueError, KeyError):  # a level or value some rows hold: score them one by one
        out, bad = None, np.ones(len(X), dtype=bool)
    if out is not None and not bad.any():
        return out, pd.DataFrame(columns=[C.COL_PATIENT, "error_type", "message"])
    rows, errors = [], []
    for pid in X.index[bad]:
        try:
            one = score_from_document(doc, X.loc[[pid]])
            if not np.isfinite(one["probability"].to_numpy(float)).all():
                raise ValueError(f"patient {pid}: expected finite feature values; found NaN among the model's "
                                 "inputs. Extract/embed both ROIs and fill the clinical factors for this patient.")
            rows.append(one)
        except (ValueError, KeyError) as err:
            errors.append({C.COL_PATIENT: str(pid), "error_type": type(err).__name__, "message": str(err)})
    good = [out.loc[~bad]] if out is not None else []
    scored = pd.concat(good + rows) if good or rows else score_from_document(doc, X.iloc[:0])
    return scored.loc[[i for i in X.index if i in scored.index]], pd.DataFrame(
        errors, columns=[C.COL_PATIENT, "error_type", "message"])


def score_nomogram_features(bundle_path: str, store: Any, refs: Any, *, out: str | None = None,
                            cohorts: Any = (), trust: Any = None) -> dict[str, Any]:
    """Score stored patients with a signed score-nomogram bundle (``alnm-ray score BUNDLE --features``).

    Reads the store's radiomics, deep and clinical tables (``refs`` pin
    versions as ``TABLE@VERSION``; others: latest), widens them for the
    bundle's reader, and writes one row per patient: each score, the
    clinical-radiomics probability, the Nomo-score and the risk group
    (:func:`~alnm_ray.protocol.scores.score_from_document`).

    Returns:
        ``{"out", "errors", "n", "n_errors", "signature", "bundle", "tables", "auc"}``.

    Raises:
        ConfigError: A reference names a table the bundle does not read.
        BundleSignatureError, BundleIntegrityError: As :func:`load_score_bundle`.
    """
    from datetime import datetime, timezone

    from alnm_ray.exceptions import ConfigError
    from alnm_ray.model.cohort import cohort_from, read_tables
    from alnm_ray.store import FeatureStore
    from alnm_ray.store.versions import split_ref

    meta, doc, check = load_score_bundle(bundle_path, trust=trust)
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    pins: dict[str, str] = {}
    for ref in refs:
        table, version = split_ref(ref)
        if table not in SCORE_TABLES:
            raise ConfigError(f"--features {ref}: expected one of the tables a score-nomogram bundle reads "
                              f"({', '.join(SCORE_TABLES)}); got {table!r}. Name one of those tables.")
        pins[table] = version or ""
    cohort = cohort_from(read_tables(store, SCORE_TABLES, pins=pins), cohorts=tuple(cohorts),
                         reader=str(meta.get("reader") or C.PRIMARY_READER))
    images = [cohort.tables[t] for t in (C.TABLE_RADIOMICS, C.TABLE_DEEP)]
    X = pd.concat(images, axis=1, join="outer")  # a patient missing one table becomes an error row
    X = X.loc[:, ~X.columns.duplicated()]
    clin = cohort.tables[C.TABLE_CLINICAL]
    X = X.join(clin[[c for c in clin.columns if c not in X.columns]], how="left")
    scored, errors = score_document_rows(doc, X)
    frame = scored.rename_axis(C.COL_PATIENT).reset_index()
    frame.insert(1, "threshold", float(doc["threshold"]))
    if cohort.labels is not None:
        frame[C.COL_LABEL] = cohort.labels.reindex(frame[C.COL_PATIENT]).to_numpy()
    if cohort.cohort_names is not None:
        frame.insert(1, C.COL_COHORT, cohort.cohort_names.reindex(frame[C.COL_PATIENT]).to_numpy())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = Path(out or f"score-{Path(bundle_path).name}-{stamp}.parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)
    err_path = target.with_name(target.stem + "_errors.csv")
    errors.to_csv(err_path, index=False)
    auc = None
    if C.COL_LABEL in frame and frame[C.COL_LABEL].dropna().nunique() == 2:
        from sklearn.metrics import roc_auc_score

        lab = frame.dropna(subset=[C.COL_LABEL])
        auc = float(roc_auc_score(lab[C.COL_LABEL].astype(int), lab["probability"]))
    return {"out": str(target), "errors": str(err_path), "n": int(len(frame)), "n_errors": int(len(errors)),
            "signature": check, "bundle": meta, "auc": auc,
            "tables": {t: i.version for t, i in cohort.versions.items()}, "patients_in": int(len(X))}


def score_bundle_command(bundle: str, *, manifests: Any, features: Any, store: str, out: str | None,
                         cohorts: Any, trust: Any) -> list[str]:
    """``alnm-ray score`` for a score-nomogram bundle: score ``--features`` and return the lines to print.

    Raises:
        ConfigError: ``--manifest`` (this bundle holds no image-processing settings).
    """
    from alnm_ray.exceptions import ConfigError

    if manifests:
        raise ConfigError(
            f"score {bundle}: --manifest: expected a bundle that records its preprocessing, PyRadiomics and "
            "embedding settings (from `alnm-ray train`); got a score-nomogram bundle (from `alnm-ray run` of a "
            "score_nomogram protocol), which holds only the fitted formulas. Put the new patients in the store "
            "with the protocol's settings (`alnm-ray extract NEW.csv --store STORE --params ...` and "
            "`alnm-ray embed NEW.csv --store STORE --config ...`, values from `alnm-ray protocol show PROTOCOL`; "
            "their clinical factors with `alnm-ray features import`), then run `alnm-ray score BUNDLE "
            "--features radiomics@VERSION --features deep@VERSION --features clinical@VERSION --store STORE`.")
    res = score_nomogram_features(bundle, store, features, out=out, cohorts=cohorts, trust=trust)
    check = res["signature"]
    lines = [f"bundle {bundle}: signed by {check.signer[:16]} (trusted key {check.key_source})" if check.verified
             else f"WARNING: bundle {bundle} is NOT VERIFIED ({check.status}); scored because of --trust-unsigned"]
    proto = res["bundle"].get("protocol", {})
    lines.append(f"score-nomogram model of protocol {proto.get('name')} v{proto.get('version')}: "
                 f"{res['patients_in']} patient(s) in = {res['n']} prediction(s) + {res['n_errors']} error(s) "
                 f"-> {res['out']} (errors: {res['errors']})")
    if res["auc"] is not None:
        lines.append(f"labelled patients: AUC of the clinical-radiomics model {res['auc']:.3f}")
    return lines
