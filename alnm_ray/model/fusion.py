"""Post-fusion: an SVM stacked on the per-modality models' probabilities (Liu 2025).

Within one (outer) training set:

1. an inner stratified K-fold (``inner_folds``) over the training patients;
   in each inner fold every modality's selection pipeline and base classifier
   are fitted on the inner-training rows and predict the inner-validation rows,
   giving out-of-fold (OOF) probabilities for every training patient;
2. each modality's selection + base classifier is refitted on the whole
   training set (these make the test-time probabilities);
3. the meta SVM (linear kernel, Platt probabilities) is trained on the OOF
   probability matrix (training patients x modalities).

At prediction the refitted modality models produce probabilities for the new
patients and the meta SVM combines them.  No test row and no OOF-row label
reaches a model that predicts it.  Inner selections are fitted once and shared
by all base classifiers (:func:`fit_post_fusion`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold

from alnm_ray._validation import check_range
from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.model.classifiers import make_classifier
from alnm_ray.model.fitted import FittedFusion
from alnm_ray.model.fitting import FoldSelection, fit_predict, fit_selection, prediction_frame
from alnm_ray.model.inputs import normalise_classifiers, prepare_reader_table
from alnm_ray.model.metrics import binary_metrics, youden_threshold
from alnm_ray.model.splits import derive_seed
from alnm_ray.select.pipeline import resolve_config

#: Meta-learner defaults: a linear SVM on 2-4 probability columns (an RBF kernel
#: has nothing to gain in so few dimensions and overfits ~200 rows more easily).
META_DEFAULTS: dict[str, Any] = {"kernel": "linear", "C": 1.0}


class PostFusionClassifier(ClassifierMixin, BaseEstimator):
    """Stacked classifier over column groups (modalities) of one table.

    Args:
        groups: Modality name -> column names, e.g.
            ``{"clinical": [...], "radiomics": [...], "deep": [...]}``.
        base: Classifier name for every modality's model (see
            :data:`~alnm_ray.model.classifiers.CLASSIFIERS`).
        base_params: Overrides of the base classifier's defaults.
        selection: Selection config / preset for every modality.
        inner_folds: Inner CV folds producing the OOF probabilities.
        meta_params: Overrides of :data:`META_DEFAULTS` for the meta SVM.
        reader_table: Long radiomics table with readers' rows (ICC).
        seed: Base seed.

    Attributes:
        selections_: Modality -> fitted :class:`FoldSelection` on all training rows.
        base_models_: Modality -> fitted base classifier.
        meta_: The fitted meta SVM.
        oof_: DataFrame (training patients x modalities) of OOF probabilities.
        threshold_: Youden cut-off of the meta model on the OOF matrix.
        classes_: ``array([0, 1])``.
    """

    def __init__(self, groups: Mapping[str, Sequence[str]] | None = None, base: str = "lr",
                 base_params: Mapping[str, Any] | None = None, selection: Any = "guo2024",
                 inner_folds: int = 5, meta_params: Mapping[str, Any] | None = None,
                 reader_table: Any = None, seed: int = 0) -> None:
        self.groups = groups
        self.base = base
        self.base_params = base_params
        self.selection = selection
        self.inner_folds = inner_folds
        self.meta_params = meta_params
        self.reader_table = reader_table
        self.seed = seed

    def _parts(self, X: pd.DataFrame) -> dict[str, pd.DataFrame]:
        if not self.groups or len(self.groups) < 2:
            raise SchemaMismatchError("post-fusion: groups: expected at least two modalities "
                                      "(name -> columns); got "
                                      f"{list(self.groups or {})}.")
        out = {}
        for name, cols in self.groups.items():
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise SchemaMismatchError(
                    f"post-fusion: modality {name!r}: X lacks {len(missing)} column(s), e.g. "
                    f"{missing[:3]}; expected every column listed in groups.")
            out[name] = X.loc[:, list(cols)]
        return out

    def fit(self, X: pd.DataFrame, y: Any) -> "PostFusionClassifier":
        """Fit modality models, OOF probabilities and the meta SVM on (X, y)."""
        fitted = fit_post_fusion(self._parts(X), np.asarray(y).astype(int),
                                 {self.base: dict(self.base_params or {})}, self.selection,
                                 inner_folds=self.inner_folds, meta_params=self.meta_params,
                                 reader_table=self.reader_table, seed=self.seed)
        for key, value in vars(fitted[self.base]).items():
            if key.endswith("_"):
                setattr(self, key, value)
        return self

    def _check(self) -> None:
        if not hasattr(self, "meta_"):
            raise NotFittedError("PostFusionClassifier: not fitted yet; call fit(X, y) first.")

    def modality_probabilities(self, parts: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Each refitted modality model's P(ALNM) for new rows (rows x modalities)."""
        self._check()
        cols = {}
        for name, sel in self.selections_.items():
            Xt = sel.transform(parts[name])
            cols[name] = self.base_models_[name].predict_proba(Xt.to_numpy(dtype=float))[:, 1]
        return pd.DataFrame(cols, index=next(iter(parts.values())).index)

    def predict_proba_parts(self, parts: Mapping[str, pd.DataFrame]) -> np.ndarray:
        """Meta probabilities, shape (n, 2), from per-modality frames."""
        Z = self.modality_probabilities(parts)
        return self.meta_.predict_proba(Z.to_numpy())

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(class), shape (n, 2), for rows holding every group's columns."""
        return self.predict_proba_parts(self._parts(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 calls at ``threshold_``."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)


def fit_post_fusion(parts: Mapping[str, pd.DataFrame], y: np.ndarray,
                    classifiers: Any, selection: Any = "guo2024", *, inner_folds: int = 5,
                    meta_params: Mapping[str, Any] | None = None, reader_table: Any = None,
                    seed: int = 0,
                    outer_selections: Mapping[str, FoldSelection] | None = None,
                    metadata: Mapping[str, Any] | None = None
                    ) -> dict[str, PostFusionClassifier]:
    """Fit one post-fusion model per base classifier, sharing every selection fit.

    Args:
        parts: Modality name -> training rows (same index and order in all).
        y: 0/1 labels of the training rows.
        classifiers: Names or ``{name: params}`` of the base classifiers.
        selection: Selection config / preset.
        inner_folds: Inner CV folds for the OOF probabilities.
        meta_params: Meta SVM overrides.
        reader_table: Readers' rows for ICC.
        seed: Base seed.
        outer_selections: Already fitted selections on exactly these rows, by
            modality (reused instead of refitting).
        metadata: Per-patient metadata of the selection steps (centres for
            ComBat; see :func:`~alnm_ray.model.fitting.fit_selection`), indexed
            by patient id and covering the training and any later-scored rows.

    Returns:
        Dict classifier name -> fitted :class:`PostFusionClassifier`.
    """
    check_range("inner_folds", inner_folds, 2)
    cfg = resolve_config(selection)
    clfs = normalise_classifiers(classifiers)
    reader_table = prepare_reader_table(cfg, parts, reader_table)
    y = np.asarray(y).astype(int)
    names = list(parts)
    n = len(y)
    oof = {c: np.zeros((n, len(names))) for c in clfs}
    inner = StratifiedKFold(inner_folds, shuffle=True, random_state=derive_seed(seed, "inner"))
    for k, (tr, va) in enumerate(inner.split(np.zeros(n), y)):
        for j, name in enumerate(names):
            X = parts[name]
            s_seed = derive_seed(seed, "inner", k, name)
            sel = fit_selection(X.iloc[tr], y[tr], cfg, reader_table=reader_table, seed=s_seed,
                                metadata=metadata)
            Xtr, Xva = sel.transform(X.iloc[tr]), sel.transform(X.iloc[va])
            for c, params in clfs.items():
                (p_va,) = fit_predict(c, params, s_seed, sel.X_train, sel.y_train, Xtr,
                                      [Xva]).p_eval
                oof[c][va, j] = p_va
    selections = {}
    for name in names:
        given = (outer_selections or {}).get(name)
        selections[name] = given if given is not None else fit_selection(
            parts[name], y, cfg, reader_table=reader_table, seed=derive_seed(seed, "outer", name),
            metadata=metadata)
    index = parts[names[0]].index
    out = {}
    for c, params in clfs.items():
        model = PostFusionClassifier(
            groups={nm: list(map(str, parts[nm].columns)) for nm in names}, base=c,
            base_params=params, selection=cfg, inner_folds=inner_folds,
            meta_params=meta_params, reader_table=reader_table, seed=seed)
        model.selections_ = selections
        model.base_models_ = {}
        for name in names:
            sel = selections[name]
            base = make_classifier(c, seed=derive_seed(seed, "outer", name), **params)
            model.base_models_[name] = base.fit(sel.X_train.to_numpy(dtype=float), sel.y_train)
        meta = make_classifier("svm", seed=seed, **{**META_DEFAULTS, **(meta_params or {})})
        meta.fit(oof[c], y)
        model.meta_ = meta
        model.oof_ = pd.DataFrame(oof[c], index=index, columns=names)
        model.threshold_ = youden_threshold(y, meta.predict_proba(oof[c])[:, 1])
        model.classes_ = np.array([0, 1])
        out[c] = model
    return out


def evaluate_fusion_fold(name: str, parts: Sequence[str], sets: Mapping[str, pd.DataFrame],
                         selections: Mapping[str, FoldSelection], yv: np.ndarray, tr: np.ndarray,
                         te: np.ndarray, r: int, f: int, clfs: Mapping[str, Mapping[str, Any]],
                         cfg: Any, reader_table: Any, inner_folds: int, meta_params: Any,
                         s_seed: int, *, metadata: Mapping[str, Any] | None = None
                         ) -> tuple[list[dict[str, Any]], list[pd.DataFrame], dict[str, FittedFusion]]:
    """One outer fold of a post-fusion set, for every base classifier.

    Args:
        name: The post-fusion set name.
        parts: Its component sets (keys of ``sets`` and ``selections``).
        sets: Feature set name -> all rows (training and test).
        selections: Component -> selection already fitted on the training rows ``tr``.
        yv: 0/1 labels of all rows.
        tr, te: Positions of the training and test rows.
        r, f: CV repeat and fold (-1 outside CV).
        clfs: Base classifiers ``{name: params}``.
        cfg, reader_table, inner_folds, meta_params, s_seed, metadata: As in
            :func:`fit_post_fusion`.

    Returns:
        ``(rows, predictions, models)``: one metrics row per base classifier,
        the test rows' :func:`~alnm_ray.model.fitting.prediction_frame` per
        classifier, and its :class:`~alnm_ray.model.fitted.FittedFusion`.
    """
    t0 = time.perf_counter()
    train_parts = {p: sets[p].iloc[tr] for p in parts}
    test_parts = {p: sets[p].iloc[te] for p in parts}
    fitted = fit_post_fusion(train_parts, yv[tr], clfs, cfg, inner_folds=inner_folds,
                             meta_params=meta_params, reader_table=reader_table, seed=s_seed,
                             outer_selections={p: selections[p] for p in parts},
                             metadata=metadata)
    secs = time.perf_counter() - t0
    rows, preds, models = [], [], {}
    index = sets[parts[0]].index[te]
    for clf, model in fitted.items():
        p_tr = model.meta_.predict_proba(model.oof_.to_numpy())[:, 1]
        p_te = model.predict_proba_parts(test_parts)[:, 1]
        thr = model.threshold_
        selected = {p: selections[p].selected for p in parts}
        fallbacks = [t for p in parts for t in selections[p].fallbacks]
        rows.append({"feature_set": name, "classifier": clf, "repeat": r, "fold": f,
                     **binary_metrics(yv[te], p_te, thr),
                     "train_auc": binary_metrics(yv[tr], p_tr, thr)["auc"],
                     "n_train": len(tr), "n_test": len(te),
                     "n_selected": sum(len(v) for v in selected.values()),
                     "selected_features": json.dumps(selected), "fallback": json.dumps(fallbacks),
                     "select_seconds": sum(selections[p].seconds for p in parts),
                     "select_step_seconds": "{}", "fit_seconds": secs / len(fitted),
                     "classifier_warnings": "[]",
                     "params": json.dumps({"base": dict(clfs[clf]), "meta": meta_params or {},
                                           "inner_folds": inner_folds}, default=str)})
        preds.append(prediction_frame(name, clf, r, f, index, yv[te], p_te, thr))
        models[clf] = FittedFusion(name, clf, model)
    return rows, preds, models
