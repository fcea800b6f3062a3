"""The classifiers of the studies: a registry of factories, defaults and search spaces.

Guo 2024's eight (:data:`GUO2024_CLASSIFIERS`) and Liu 2025's stochastic
gradient descent classifier (``sgd``: "The stochastic gradient descent (SGD)
was utilized to construct single-modal models and pre-fusion models").

Every classifier is single-threaded (``n_jobs=1`` / ``nthread=1``; Ray or the
caller parallelises across folds) and seeded.  Defaults are library defaults
except where stated with a reason; they were chosen to be fast on ~200
patients x ~20 features (see the per-fold timings in the project report).

Search spaces are plain data: ``{param: (distribution, *args)}`` with
distributions "uniform"/"loguniform" ``(low, high)``, "randint" ``(low, high)``
(high exclusive, as ``ray.tune.randint``) and "choice" ``([options])``.
:func:`to_tune_space` turns one into ``ray.tune`` sampling objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alnm_ray._validation import did_you_mean, look_up_option
from alnm_ray.exceptions import ConfigError

SearchSpace = dict[str, tuple]


def _lr(seed: int, **p: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed, **p)


def _nb(seed: int, **p: Any) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(**p)


def _svm(seed: int, calibration_folds: int = 5, **p: Any) -> Any:
    # scikit-learn 1.9 deprecates SVC(probability=True); this is its stated
    # replacement and the same method: Platt (sigmoid) scaling fitted on
    # out-of-fold decision values, then one SVC refitted on all rows.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    return CalibratedClassifierCV(SVC(random_state=seed, **p), method="sigmoid",
                                  cv=calibration_folds, ensemble=False)


def _knn(seed: int, **p: Any) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(**p)


def _xgboost(seed: int, **p: Any) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(random_state=seed, **p)


def _lightgbm(seed: int, **p: Any) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(random_state=seed, **p)


def _adaboost(seed: int, **p: Any) -> Any:
    from sklearn.ensemble import AdaBoostClassifier

    return AdaBoostClassifier(random_state=seed, **p)


def _mlp(seed: int, **p: Any) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed, **p)


def _sgd(seed: int, **p: Any) -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(random_state=seed, **p)


@dataclass(frozen=True)
class ClassifierSpec:
    """One registry entry.

    Args:
        name: Registry key ("lr", "svm" ...).
        label: Display name.
        factory: ``factory(seed, **params) -> estimator``.
        defaults: Parameters used unless overridden (documented below).
        search_space: Optional hyper-parameter space (see module docstring).
        notes: Why the defaults differ from the library's, if they do.
    """

    name: str
    label: str
    factory: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    search_space: Mapping[str, tuple] = field(default_factory=dict)
    notes: str = ""


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "lr": ClassifierSpec(
        "lr", "Logistic regression", _lr,
        {"C": 1.0, "solver": "lbfgs", "max_iter": 1000},
        {"C": ("loguniform", 1e-3, 1e2)},
        "max_iter 1000 (lbfgs default 100 can stop early on ~20 correlated features)"),
    "nb": ClassifierSpec(
        "nb", "Gaussian naive Bayes", _nb, {"var_smoothing": 1e-9},
        {"var_smoothing": ("loguniform", 1e-12, 1e-3)}),
    "svm": ClassifierSpec(
        "svm", "Support vector machine", _svm,
        {"C": 1.0, "kernel": "rbf", "gamma": "scale", "calibration_folds": 5},
        {"C": ("loguniform", 1e-2, 1e2), "gamma": ("loguniform", 1e-4, 1.0),
         "kernel": ("choice", ["rbf", "linear"])},
        "probabilities by Platt scaling on 5-fold out-of-fold decision values "
        "(CalibratedClassifierCV(SVC(), ensemble=False), scikit-learn 1.9's replacement for "
        "SVC(probability=True))"),
    "knn": ClassifierSpec(
        "knn", "k-nearest neighbours", _knn,
        {"n_neighbors": 5, "weights": "uniform", "n_jobs": 1},
        {"n_neighbors": ("randint", 3, 31), "weights": ("choice", ["uniform", "distance"])}),
    "xgboost": ClassifierSpec(
        "xgboost", "XGBoost", _xgboost,
        {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "subsample": 1.0,
         "tree_method": "hist", "n_jobs": 1, "verbosity": 0, "eval_metric": "logloss"},
        {"n_estimators": ("randint", 50, 501), "max_depth": ("randint", 2, 9),
         "learning_rate": ("loguniform", 1e-2, 0.3), "subsample": ("uniform", 0.5, 1.0)},
        "max_depth 3 (library 6): ~200 patients; hist tree method for speed"),
    "lightgbm": ClassifierSpec(
        "lightgbm", "LightGBM", _lightgbm,
        {"n_estimators": 100, "num_leaves": 15, "learning_rate": 0.1, "min_child_samples": 10,
         "n_jobs": 1, "verbose": -1, "deterministic": True, "force_row_wise": True},
        {"n_estimators": ("randint", 50, 501), "num_leaves": ("randint", 4, 64),
         "learning_rate": ("loguniform", 1e-2, 0.3), "min_child_samples": ("randint", 5, 41)},
        "num_leaves 15 / min_child_samples 10 (library 31 / 20): ~200 patients; verbose=-1"),
    "adaboost": ClassifierSpec(
        "adaboost", "AdaBoost", _adaboost, {"n_estimators": 50, "learning_rate": 1.0},
        {"n_estimators": ("randint", 25, 301), "learning_rate": ("loguniform", 1e-2, 2.0)}),
    "mlp": ClassifierSpec(
        "mlp", "Multilayer perceptron", _mlp,
        {"hidden_layer_sizes": (32,), "solver": "lbfgs", "alpha": 1e-2, "max_iter": 500},
        {"hidden_layer_sizes": ("choice", [(16,), (32,), (64,), (32, 16)]),
         "alpha": ("loguniform", 1e-5, 1.0)},
        "lbfgs (scikit-learn's advice for small data: faster and steadier than adam); one "
        "hidden layer of 32; alpha 1e-2 to curb overfitting on ~200 rows"),
    # Liu 2025 names only "SGD".  Stated by us: loss "log_loss" (logistic
    # regression fitted by SGD), the one loss besides modified_huber that gives
    # predict_proba, needed for AUC and for their post-fusion SVM on
    # probabilities.  Assumed (scikit-learn defaults, the paper is silent):
    # penalty l2, alpha 1e-4, max_iter 1000, tol 1e-3, learning_rate "optimal".
    "sgd": ClassifierSpec(
        "sgd", "Stochastic gradient descent (logistic loss)", _sgd,
        {"loss": "log_loss", "penalty": "l2", "alpha": 1e-4, "max_iter": 1000, "tol": 1e-3},
        {"alpha": ("loguniform", 1e-6, 1e-1), "penalty": ("choice", ["l2", "l1", "elasticnet"])},
        "loss log_loss so that predict_proba exists (Liu 2025 states only 'SGD'); the other "
        "parameters are scikit-learn's defaults (assumed)"),
}

#: Registry order: Guo 2024's eight in the paper's order, then Liu 2025's SGD.
CLASSIFIER_NAMES: tuple[str, ...] = tuple(CLASSIFIERS)
#: The eight classifiers compared by Guo 2024.
GUO2024_CLASSIFIERS: tuple[str, ...] = ("lr", "nb", "svm", "knn", "xgboost", "lightgbm",
                                        "adaboost", "mlp")


def make_classifier(name: str, seed: int = 0, **params: Any) -> Any:
    """A fresh, unfitted classifier with the documented defaults, ``params`` overriding.

    Args:
        name: One of :data:`CLASSIFIER_NAMES`.
        seed: Random state (ignored by deterministic models).
        **params: Overrides of the defaults (e.g. from a Tune trial).

    Raises:
        ConfigError: On an unknown name or parameter.

    Example:
        >>> make_classifier("knn", n_neighbors=7).n_neighbors
        7
    """
    spec = CLASSIFIERS[look_up_option("classifier", name, CLASSIFIERS)]
    merged = {**spec.defaults, **params}
    try:
        return spec.factory(int(seed), **merged)
    except TypeError as exc:
        known = list(spec.defaults) + list(spec.search_space)
        bad = sorted(set(params) - set(known))
        hint = did_you_mean(bad[0], known) if bad else ""
        raise ConfigError(f"classifier {name!r}: invalid parameter(s) {sorted(params)} ({exc}); "
                          f"expected the estimator's parameters, e.g. {sorted(spec.defaults)}."
                          f"{hint}") from exc


def search_space(name: str) -> SearchSpace:
    """The plain-data search space of a classifier (see module docstring)."""
    return dict(CLASSIFIERS[look_up_option("classifier", name, CLASSIFIERS)].search_space)


def to_tune_space(space: Mapping[str, tuple]) -> dict[str, Any]:
    """Convert a plain-data space to ``ray.tune`` sampling objects (imports Ray lazily).

    Raises:
        ConfigError: On an unknown distribution name.
    """
    from ray import tune

    makers: dict[str, Callable[..., Any]] = {"uniform": tune.uniform, "loguniform": tune.loguniform,
              "randint": tune.randint, "choice": lambda options: tune.choice(list(options))}
    out = {}
    for param, (dist, *args) in space.items():
        look_up_option(f"search space {param!r} distribution", dist, makers)
        out[param] = makers[dist](*args)
    return out
