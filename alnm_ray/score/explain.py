"""SHAP explanations of a frozen bundle's classifier, per patient.

What is explained: the bundle's *classifier* on the *selected features* (the
selection pipeline's output, the columns listed as ``classifier_inputs``).
Patients' input rows are first transformed by the bundle's fitted selection
pipeline (z-scoring, filters, encoders), exactly as at scoring time; the
contributions are those of the transformed features, relative to a
background of sampled training rows stored in the bundle
(``explain_background.parquet``, written by ``alnm-ray train
--explain-background N``: N rows drawn without replacement with the training
seed, already transformed, without patient ids; 0 stores none).

The explainer follows the classifier:

============================  ===================  ======================
classifier                    SHAP explainer       output explained
============================  ===================  ======================
lr, sgd                       ``LinearExplainer``  log-odds of ALNM
xgboost, lightgbm             ``TreeExplainer``    log-odds of ALNM
                              (interventional)
nb, svm, knn, mlp, adaboost   ``PermutationExplainer`` probability of ALNM
============================  ===================  ======================

In each case ``base_value + sum(contributions) == output`` for every patient
(to floating point): the log-odds ``logit(p)`` or the probability ``p``.
shap's ``TreeExplainer`` does not support scikit-learn's AdaBoost, so it
gets the model-agnostic explainer.  The permutation explainer costs
``max_evals`` model calls of ``len(background)`` rows per patient.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError

logger = logging.getLogger(__name__)

#: Default number of training rows stored as the SHAP background (train --explain-background).
DEFAULT_BACKGROUND = 100
#: Classifier registry name -> explainer kind.
EXPLAINERS: dict[str, str] = {"lr": "linear", "sgd": "linear", "xgboost": "tree", "lightgbm": "tree"}
#: Explainer kind used for every other classifier.
MODEL_AGNOSTIC = "permutation"
#: Output scale per explainer kind.
SCALES: dict[str, str] = {"linear": "log-odds", "tree": "log-odds", "permutation": "probability"}
#: Model evaluations per patient of the permutation explainer (shap's default).
DEFAULT_MAX_EVALS = 500
#: Smallest predicted probability kept off 0 and 1 before taking log-odds.
EPS = 1e-12


def explainer_kind(classifier: str) -> str:
    """The SHAP explainer used for a classifier registry name.

    Example:
        >>> explainer_kind("lr"), explainer_kind("xgboost"), explainer_kind("svm")
        ('linear', 'tree', 'permutation')
    """
    return EXPLAINERS.get(str(classifier), MODEL_AGNOSTIC)


def sample_background(model: Any, X: pd.DataFrame, n: int, *, seed: int = 0) -> pd.DataFrame | None:
    """``n`` training rows drawn with ``seed``, transformed by the model's selection (no patient ids).

    Args:
        model: The fitted :class:`~alnm_ray.score.frozen.FrozenModel`.
        X: Training rows (the bundle's input columns).
        n: Rows to keep (all when fewer); 0 returns None (no background stored).
        seed: Seed of the draw.

    Returns:
        The classifier's inputs for the drawn rows, float columns named as
        the selection output, index reset; None when ``n`` is 0.
    """
    if int(n) < 0:
        raise ConfigError(f"--explain-background: expected a number of rows >= 0; got {n}. "
                          "Pass 0 to store no training rows, or e.g. 100.")
    if int(n) == 0:
        return None
    rows = X.sample(n=min(int(n), len(X)), random_state=int(seed)) if len(X) > int(n) else X
    return _as_frame(model.transform_features(rows)).reset_index(drop=True)


def _as_frame(Xt: Any) -> pd.DataFrame:
    if isinstance(Xt, pd.DataFrame):
        return Xt.astype(float)
    arr = np.asarray(Xt, dtype=float)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def read_background(bundle: Any) -> pd.DataFrame:
    """The bundle's SHAP background (already verified with the rest of the bundle).

    Raises:
        ConfigError: The bundle stores no background (trained with ``--explain-background 0``).
    """
    blob = bundle.extras.get("explain_background")
    if blob is None:
        raise ConfigError(
            f"bundle {bundle.path}: expected explain_background.parquet (training rows SHAP explanations are "
            "relative to); the bundle has none (trained with --explain-background 0 or by an older alnm-ray). "
            "Re-train it with `alnm-ray train --explain-background 100`.")
    return pd.read_parquet(io.BytesIO(blob))


@dataclass(frozen=True)
class Explanation:
    """Per-patient SHAP contributions of a bundle's classifier.

    Attributes:
        values: Contributions, shape ``(patients, classifier inputs)``; index = the rows' index.
        data: The classifier inputs (selection output) of the same patients.
        base_value: Expected output over the background, per patient, shape ``(patients,)``.
        output: The model's output on :attr:`scale`, per patient (``base_value + values.sum(1)``).
        probability: P(ALNM) per patient.
        scale: ``"log-odds"`` or ``"probability"``.
        explainer: ``"linear"``, ``"tree"`` or ``"permutation"``.
        background_rows: Rows of the background used.
    """

    values: pd.DataFrame
    data: pd.DataFrame
    base_value: np.ndarray
    output: np.ndarray
    probability: np.ndarray
    scale: str
    explainer: str
    background_rows: int

    def mean_abs(self) -> pd.Series:
        """Global importance: mean |contribution| per feature, largest first."""
        return self.values.abs().mean().sort_values(ascending=False, kind="stable")

    def top(self, k: int) -> pd.DataFrame:
        """The ``k`` largest |contributions| per patient.

        Returns:
            Columns ``shap_feature_1, shap_value_1, …, shap_feature_k, shap_value_k``
            (fewer when the classifier has fewer inputs), same index as :attr:`values`.
        """
        k = min(int(k), self.values.shape[1])
        vals = self.values.to_numpy(float)
        order = np.argsort(-np.abs(vals), axis=1, kind="stable")[:, :k]
        names = np.asarray(self.values.columns, dtype=object)
        out = {}
        for j in range(k):
            out[f"shap_feature_{j + 1}"] = names[order[:, j]]
            out[f"shap_value_{j + 1}"] = np.take_along_axis(vals, order[:, j:j + 1], axis=1)[:, 0]
        return pd.DataFrame(out, index=self.values.index)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1.0 - EPS)
    return np.log(q / (1.0 - q))


def explain_rows(bundle: Any, X: pd.DataFrame, *, max_evals: int = DEFAULT_MAX_EVALS, seed: int = 0,
                 background: pd.DataFrame | None = None) -> Explanation:
    """SHAP contributions for rows of a bundle's input features (see the module docstring).

    Args:
        bundle: A loaded, verified :class:`~alnm_ray.score.bundle.Bundle`.
        X: Rows to explain with the bundle's input columns (extra columns ignored).
        max_evals: Model evaluations per patient of the permutation explainer.
        seed: Seed of the permutation explainer's permutations.
        background: Override of the bundle's stored background (classifier inputs).

    Returns:
        An :class:`Explanation`.

    Raises:
        ConfigError: No background in the bundle, or it does not match the classifier's inputs.
    """
    import shap

    model = bundle.model
    clf = model.classifier
    bg = read_background(bundle) if background is None else background
    Xt = _as_frame(model.transform_features(X.loc[:, bundle.features]))
    Xt.index = X.index
    if list(bg.columns) != list(Xt.columns):
        raise ConfigError(f"bundle {bundle.path}: expected the explain background's columns to be the classifier "
                          f"inputs ({', '.join(map(str, Xt.columns[:5]))} …); found "
                          f"{', '.join(map(str, bg.columns[:5]))} …. Re-train the bundle.")
    kind = explainer_kind(bundle.metadata.get("classifier", ""))
    arr, bg_arr = Xt.to_numpy(float), bg.to_numpy(float)
    p = np.asarray(clf.predict_proba(arr))[:, 1].astype(float)
    if kind == "linear":
        sv = shap.LinearExplainer(clf, bg_arr)(arr)
    elif kind == "tree":
        sv = shap.TreeExplainer(clf, bg_arr, feature_perturbation="interventional")(arr, check_additivity=False)
    else:
        def f(a: np.ndarray) -> np.ndarray:
            return np.asarray(clf.predict_proba(np.asarray(a, dtype=float)))[:, 1]

        masker = shap.maskers.Independent(bg_arr, max_samples=len(bg_arr))
        evals = max(int(max_evals), 2 * arr.shape[1] + 1)
        sv = shap.PermutationExplainer(f, masker, seed=int(seed))(arr, max_evals=evals, silent=True)
    values = np.asarray(sv.values, dtype=float)
    if values.ndim == 3:  # a per-class output: keep ALNM (class 1)
        values = values[..., 1]
    base = np.broadcast_to(np.asarray(sv.base_values, dtype=float).reshape(len(arr), -1)[:, -1]
                           if np.ndim(sv.base_values) else float(sv.base_values), (len(arr),)).copy()
    scale = SCALES[kind]
    output = _logit(p) if scale == "log-odds" else p
    gap = float(np.max(np.abs(base + values.sum(axis=1) - output))) if len(arr) else 0.0
    if gap > 1e-4 * max(1.0, float(np.max(np.abs(output))) if len(arr) else 1.0):
        logger.warning("SHAP contributions of %s add up to the model output only within %.2g", kind, gap)
    return Explanation(pd.DataFrame(values, index=Xt.index, columns=Xt.columns), Xt, base, output, p, scale,
                       kind, len(bg_arr))


def contributions_frame(expl: Explanation, ids: pd.DataFrame) -> pd.DataFrame:
    """The Parquet layout of ``alnm-ray explain``: id columns, model output, one column per classifier input.

    Args:
        expl: The explanation.
        ids: Columns identifying each row (cohort, centre, patient id, label), aligned with ``expl``.
    """
    head = ids.reset_index(drop=True).copy()
    head["probability"] = expl.probability
    head["scale"] = expl.scale
    head["explainer"] = expl.explainer
    head["base_value"] = expl.base_value
    head["output"] = expl.output
    return pd.concat([head, expl.values.reset_index(drop=True)], axis=1)


def add_top_contributions(bundle: Any, wide: pd.DataFrame, preds: pd.DataFrame, k: int, *,
                          seed: int = 0) -> pd.DataFrame:
    """``score --explain K``: the predictions with each patient's ``k`` largest contributions.

    Args:
        bundle: The loaded bundle.
        wide: Scored rows (cohort, patient id and the bundle's input columns).
        preds: Predictions (cohort, patient id, …).
        k: Contributions per patient (0: ``preds`` unchanged).
        seed: Seed of the permutation explainer.

    Returns:
        ``preds`` plus ``shap_scale`` and ``shap_feature_i`` / ``shap_value_i`` columns.
    """
    if int(k) <= 0 or preds.empty:
        return preds
    keys = [C.COL_COHORT, C.COL_PATIENT]
    rows = wide.drop_duplicates(keys).set_index(keys)
    wanted = pd.MultiIndex.from_frame(preds[keys].astype(str))
    rows.index = pd.MultiIndex.from_arrays([rows.index.get_level_values(i).astype(str) for i in range(2)])
    expl = explain_rows(bundle, rows.loc[wanted], seed=seed)
    top = expl.top(int(k)).reset_index(drop=True)
    top.insert(0, "shap_scale", expl.scale)
    return pd.concat([preds.reset_index(drop=True), top], axis=1)


def permutation_importance_table(bundle: Any, X: pd.DataFrame, y: np.ndarray, *, n_repeats: int = 10,
                                 seed: int = 0) -> pd.DataFrame | None:
    """Model-agnostic check: drop in AUC when each used input feature is permuted (hold-out rows).

    The whole bundle (selection + classifier) is scored on ``X`` with each of
    its used input features shuffled in turn, ``n_repeats`` shuffles each (ROC
    AUC), as scikit-learn's ``permutation_importance`` does — but only the used
    features are shuffled: the others cannot change a prediction, and shuffling
    every stored column (thousands of radiomics features) ran the pipeline
    thousands of times for nothing.

    Returns:
        Columns ``feature, auc_drop_mean, auc_drop_sd``, largest drop first; None
        when ``y`` lacks a class.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    keep = ~pd.isna(y)
    if keep.sum() < 4 or len(np.unique(y[keep].astype(int))) < 2:
        return None
    Xk, yk = X.loc[keep, bundle.features], y[keep].astype(int)
    used = [f for f in bundle.selected_features if f in Xk.columns]
    rng = np.random.default_rng(int(seed))
    base = roc_auc_score(yk, np.asarray(bundle.model.predict_proba(Xk))[:, 1])
    means, sds = [], []
    for feature in used:
        original = Xk[feature].to_numpy(copy=True)
        drops = []
        for _ in range(int(n_repeats)):
            Xk[feature] = rng.permutation(original)
            drops.append(base - roc_auc_score(yk, np.asarray(bundle.model.predict_proba(Xk))[:, 1]))
        Xk[feature] = original
        means.append(float(np.mean(drops)))
        sds.append(float(np.std(drops)))
    table = pd.DataFrame({"feature": used, "auc_drop_mean": means, "auc_drop_sd": sds})
    return table.sort_values("auc_drop_mean", ascending=False, kind="stable").reset_index(drop=True)
