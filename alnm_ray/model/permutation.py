"""Permutation importance of a fitted model on held-out rows: a model-agnostic check.

For each feature the classifier sees (the selection's output), the drop in ROC AUC
on the held-out rows when that feature's values are shuffled
(``sklearn.inspection.permutation_importance``).  The selection is applied once
and the classifier's input columns are permuted: every selection step acts
column by column at transform time (ComBat, z-score, column filters), so
shuffling a selected column after them equals shuffling the raw feature before
them, at a fraction of the cost of re-running the pipeline for every column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Shuffles per feature (scikit-learn's example value; the SD column shows what it leaves).
PERMUTATION_REPEATS = 10
#: The tune run folder's file of these tables (every plain hold-out model; written by
#: :mod:`alnm_ray.tune.outputs`, read by the report).
PERMUTATION_FILE = "holdout_permutation_importance.csv"
#: Columns of :func:`permutation_auc_drop`'s table.
COLUMNS: tuple[str, ...] = ("feature", "auc_drop_mean", "auc_drop_sd")


def permutation_auc_drop(model: Any, X: pd.DataFrame, y: Any, *, n_repeats: int = PERMUTATION_REPEATS,
                         seed: int = 0) -> pd.DataFrame | None:
    """Drop in AUC per selected feature when it is shuffled in the held-out rows ``X``.

    Args:
        model: A :class:`~alnm_ray.model.fitted.FittedModel` (selection + classifier).
        X: Held-out rows holding ``model.features_in`` (index = patient ids).
        y: Their 0/1 labels, shape (n,).
        n_repeats: Shuffles per feature.
        seed: Seed of the shuffles.

    Returns:
        Columns :data:`COLUMNS`, largest drop first; None when ``y`` lacks a class
        (no AUC to lose).

    Example:
        >>> from alnm_ray.model import fit_selection
        >>> from alnm_ray.model.fitted import FittedModel
        >>> from sklearn.linear_model import LogisticRegression
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.zeros(30), np.ones(30)].astype(int)
        >>> X = pd.DataFrame({"a": rng.normal(size=60) + 2 * y, "b": rng.normal(size=60)})
        >>> sel = fit_selection(X, y, {"preset": "liu2025", "steps": []})
        >>> clf = LogisticRegression().fit(sel.X_train.to_numpy(), sel.y_train)
        >>> m = FittedModel("x", "lr", sel.pipeline, clf, 0.5, ["a", "b"], sel.selected)
        >>> permutation_auc_drop(m, X, y)["feature"].tolist()
        ['a', 'b']
    """
    from sklearn.inspection import permutation_importance

    yy = np.asarray(y).astype(int)
    if np.unique(yy).size < 2:
        return None
    rows = X.loc[:, list(model.features_in)]
    if model.metadata:
        from alnm_ray.select.routing import transform_with_metadata

        Xt = transform_with_metadata(model.selection, rows, **model.metadata)
    else:
        Xt = model.selection.transform(rows)
    result = permutation_importance(model.model, Xt.to_numpy(dtype=float), yy, scoring="roc_auc",
                                    n_repeats=int(n_repeats), random_state=int(seed), n_jobs=1)
    table = pd.DataFrame({"feature": [str(c) for c in Xt.columns], "auc_drop_mean": result.importances_mean,
                          "auc_drop_sd": result.importances_std})
    return table.sort_values("auc_drop_mean", ascending=False, kind="stable").reset_index(drop=True)
