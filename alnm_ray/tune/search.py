"""Nested random hyper-parameter search (``--search random --samples N``).

Candidates: ``N`` parameter sets per classifier, drawn once in the driver with
Ray Tune's samplers (:func:`alnm_ray.model.to_tune_space` of each
classifier's :func:`~alnm_ray.model.search_space`) from a seeded generator,
so every unit sees the same candidates and a re-run draws them again.

Nested semantics (the hyper-parameter choice never sees the rows it is
scored on):

* **CV**: a trial evaluates one candidate on one chunk of repeats.  In each
  outer fold the selection is fitted on the outer training rows; the
  candidate is scored by the mean AUC of an ``inner_folds`` stratified CV on
  those training rows (their selected features, no SMOTE rows), and its
  model refitted on the whole outer training fold is scored on the outer
  test fold.  After the sweep, for each (set, classifier, repeat, fold) the
  candidate with the best inner AUC is kept; its outer-test metrics are the
  fold's result.  The inner score reuses the outer selection (fitted on all
  outer training rows), so it is optimistic for every candidate alike; it
  only ranks candidates, and the outer test fold stays untouched.
* **Hold-out / per-centre**: the same inner CV on the training patients
  chooses one candidate per (set, classifier), refitted on all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from alnm_ray.model.classifiers import search_space, to_tune_space
from alnm_ray.model.fitted import FittedClassifier, FittedModel
from alnm_ray.model.fitting import evaluate_classifiers, fit_predict, fit_selection, prediction_frame
from alnm_ray.model.splits import derive_seed, repeated_kfold


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def sample_candidates(classifiers: Sequence[str], samples: int, seed: int
                      ) -> list[dict[str, dict[str, Any]]]:
    """Draw ``samples`` candidates: ``[{classifier: params}, ...]`` (JSON-able values).

    Example:
        >>> c = sample_candidates(["lr", "knn"], 3, seed=0)
        >>> len(c), sorted(c[0]), c == sample_candidates(["lr", "knn"], 3, seed=0)
        (3, ['knn', 'lr'], True)
    """
    rng = np.random.RandomState(derive_seed(seed, "search") % (2 ** 32))
    spaces = {name: to_tune_space(search_space(name)) for name in classifiers}
    out = []
    for _ in range(samples):
        cand = {}
        for name, space in spaces.items():
            cand[name] = {p: _plain(dom.sample(random_state=rng)) for p, dom in sorted(space.items())}
        out.append(cand)
    return out


def feasible(name: str, params: Mapping[str, Any], n_rows: int) -> dict[str, Any]:
    """``params`` adjusted to a training set of ``n_rows`` rows.

    KNN's ``n_neighbors`` is capped at ``n_rows`` (a sampled 26 neighbours cannot
    be fitted on 20 rows of a small inner fold); other parameters are unchanged.
    """
    out = dict(params)
    if name == "knn" and "n_neighbors" in out:
        out["n_neighbors"] = int(max(1, min(int(out["n_neighbors"]), n_rows)))
    return out


def inner_auc(name: str, params: Mapping[str, Any], X: pd.DataFrame, y: np.ndarray,
              inner_folds: int, seed: int) -> float:
    """Mean AUC of a stratified ``inner_folds`` CV of one classifier on (X, y).

    Returns:
        The mean over folds with both classes, or NaN when no fold has both.
    """
    y = np.asarray(y).astype(int)
    k = int(min(inner_folds, np.bincount(y, minlength=2).min()))
    if k < 2:
        return float("nan")
    aucs = []
    splitter = StratifiedKFold(k, shuffle=True, random_state=derive_seed(seed, "search-inner"))
    for tr, va in splitter.split(np.zeros(len(y)), y):
        (p,) = fit_predict(name, feasible(name, params, len(tr)), seed, X.iloc[tr], y[tr],
                           X.iloc[tr], [X.iloc[va]]).p_eval
        if np.unique(y[va]).size == 2:
            aucs.append(roc_auc_score(y[va], p))
    return float(np.mean(aucs)) if aucs else float("nan")


def best_candidate(scores: Sequence[float]) -> int:
    """Index of the highest score (NaN counts as worst; ties keep the first)."""
    arr = np.asarray(scores, dtype=float)
    if np.isnan(arr).all():
        return 0
    return int(np.nanargmax(arr))


def cv_candidate(sets: Mapping[str, pd.DataFrame], y: pd.Series, plain: Sequence[str],
                 candidate: int, params: Mapping[str, Mapping[str, Any]], cfg: Any, *,
                 repeats: int, folds: int, seed: int, repeat_indices: Sequence[int],
                 reader_table: Any, inner_folds: int, fold_indices: Sequence[int] | None = None,
                 metadata: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outer CV rows of one candidate (all its classifiers) over some repeats (and folds).

    Args:
        metadata: Per-patient metadata of the selection steps (centres for ComBat,
            from :func:`~alnm_ray.model.inputs.prepare_metadata`), indexed by patient
            id; each outer fold's ComBat step learns from its training rows only.

    Returns:
        ``(results, oof)`` like :func:`alnm_ray.model.run_cv`, plus columns
        ``candidate`` and ``inner_auc``.
    """
    yv = y.to_numpy().astype(int)
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    rows, oofs = [], []
    for r, f, tr, te in repeated_kfold(yv, repeats, folds, seed, repeat_indices=repeat_indices,
                                       fold_indices=fold_indices):
        s_seed = derive_seed(seed, r, f)
        for name in plain:
            X = sets[name]
            sel = fit_selection(X.iloc[tr], yv[tr], cfg, reader_table=reader_table, seed=s_seed,
                                metadata=metadata)
            Xt = sel.transform(X.iloc[tr])
            n_fit = len(sel.y_train)
            fold_rows, probs, _ = evaluate_classifiers(
                sel, X.iloc[tr], yv[tr], X.iloc[te], yv[te],
                {c: feasible(c, p, n_fit) for c, p in params.items()}, s_seed)
            for row in fold_rows:
                clf = row["classifier"]
                score = inner_auc(clf, params[clf], Xt, yv[tr], inner_folds, s_seed)
                rows.append({"feature_set": name, "repeat": r, "fold": f, "n_train": len(tr),
                             "n_test": len(te), "n_selected": len(sel.selected),
                             "selected_features": json.dumps(sel.selected),
                             "fallback": json.dumps(sel.fallbacks), "select_seconds": sel.seconds,
                             "select_step_seconds": json.dumps(
                                 {k: round(v, 6) for k, v in sel.step_seconds.items()}),
                             "selection_seed": s_seed, "selection_config": cfg_json,
                             "selection_hash": cfg.config_hash(), **row,
                             "candidate": candidate, "inner_auc": score})
                oofs.append(prediction_frame(name, clf, r, f, X.index[te], yv[te], probs[clf],
                                             row["threshold"]).assign(candidate=candidate))
    return pd.DataFrame(rows), (pd.concat(oofs, ignore_index=True) if oofs else pd.DataFrame())


def split_search(sets: Mapping[str, pd.DataFrame], yv: np.ndarray, tr: np.ndarray, te: np.ndarray,
                 plain: Sequence[str], classifiers: Sequence[str],
                 candidates: Sequence[Mapping[str, Mapping[str, Any]]], cfg: Any, *,
                 reader_table: Any, seed: int, inner_folds: int, label: Mapping[str, Any],
                 metadata: Mapping[str, Any] | None = None
                 ) -> tuple[list[dict[str, Any]], list[pd.DataFrame], dict[tuple[str, ...], FittedClassifier]]:
    """Train/test evaluation with each (set, classifier)'s candidate chosen on inner CV of train.

    ``metadata`` is as in :func:`cv_candidate` (it covers the test rows too: they are
    harmonised with their own centre's parameters learned on the training rows).

    Returns:
        ``(rows, predictions, models)`` shaped like
        :func:`alnm_ray.model.holdout.evaluate_split`'s (rows carry
        ``candidate`` and ``inner_auc``; models are
        :class:`~alnm_ray.model.fitted.FittedModel`).
    """
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    models: dict[tuple[str, ...], FittedClassifier] = {}
    for name in plain:
        X = sets[name]
        sel = fit_selection(X.iloc[tr], yv[tr], cfg, reader_table=reader_table, seed=seed,
                            metadata=metadata)
        Xt = sel.transform(X.iloc[tr])
        chosen, scores = {}, {}
        for clf in classifiers:
            s = [inner_auc(clf, cand[clf], Xt, yv[tr], inner_folds, seed) for cand in candidates]
            chosen[clf] = best_candidate(s)
            scores[clf] = s[chosen[clf]]
        fold_rows, probs, fitted = evaluate_classifiers(
            sel, X.iloc[tr], yv[tr], X.iloc[te], yv[te],
            {c: feasible(c, candidates[chosen[c]][c], len(sel.y_train)) for c in classifiers}, seed,
            keep_models=True)
        for row in fold_rows:
            clf = row["classifier"]
            rows.append({"feature_set": name, **label, "n_train": len(tr), "n_test": len(te),
                         "n_selected": len(sel.selected), "selected_features": json.dumps(sel.selected),
                         "fallback": json.dumps(sel.fallbacks), **row, "candidate": chosen[clf],
                         "inner_auc": scores[clf]})
            preds.append(prediction_frame(name, clf, -1, -1, X.index[te], yv[te], probs[clf],
                                          row["threshold"]).drop(columns=["repeat", "fold"])
                         .assign(**label))
            models[(name, clf)] = FittedModel(name, clf, sel.pipeline, fitted[clf].model,
                                              row["threshold"], [str(c) for c in X.columns],
                                              sel.selected, sel.metadata)
    return rows, preds, models


def choose_cv_rows(results: pd.DataFrame, oof: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep, per (set, classifier, repeat, fold), the candidate with the best inner AUC.

    Returns:
        ``(results, oof)`` with one candidate per fold (``candidate`` kept).
    """
    keys = ["feature_set", "classifier", "repeat", "fold"]
    ranked = results.assign(_score=results["inner_auc"].fillna(-np.inf)).sort_values(
        keys + ["_score", "candidate"], ascending=[True] * 4 + [False, True], kind="mergesort")
    best = ranked.drop_duplicates(keys, keep="first").drop(columns="_score")
    picked = best[keys + ["candidate"]]
    return best.reset_index(drop=True), oof.merge(picked, on=keys + ["candidate"], how="inner")


def best_params_from_cv(results: pd.DataFrame, candidates: Sequence[Mapping[str, Any]]
                        ) -> dict[str, dict[str, Any]]:
    """``{"set/clf": params}`` of the candidate with the best mean inner AUC over all CV folds."""
    out = {}
    mean = results.groupby(["feature_set", "classifier", "candidate"])["inner_auc"].mean()
    for (fs, clf), group in mean.groupby(level=[0, 1]):
        k = int(group.droplevel([0, 1]).idxmax()) if group.notna().any() else 0
        out[f"{fs}/{clf}"] = dict(candidates[k][clf])
    return out
