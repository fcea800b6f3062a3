"""The classifier registry: Guo's eight plus Liu's SGD, single-threaded, seeded, with search spaces."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.model import CLASSIFIER_NAMES, CLASSIFIERS, make_classifier, search_space


def test_the_registered_classifiers():
    from alnm_ray.model.classifiers import GUO2024_CLASSIFIERS

    assert GUO2024_CLASSIFIERS == ("lr", "nb", "svm", "knn", "xgboost", "lightgbm", "adaboost", "mlp")
    assert CLASSIFIER_NAMES == (*GUO2024_CLASSIFIERS, "sgd")


def test_sgd_is_a_seeded_logistic_loss_model_with_probabilities(rng):
    from sklearn.linear_model import SGDClassifier

    clf = make_classifier("sgd", seed=5)
    assert isinstance(clf, SGDClassifier)
    assert (clf.loss, clf.random_state) == ("log_loss", 5)
    X = rng.normal(size=(60, 4))
    y = (X[:, 1] > 0).astype(int)
    proba = clf.fit(X, y).predict_proba(X)[:, 1]
    # log loss: the probability is the logistic function of the decision value
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-clf.decision_function(X))))
    with pytest.raises(ConfigError, match="Did you mean 'sgd'"):
        make_classifier("sdg")


def test_sgd_round_trips_through_a_skops_bundle(rng):
    from alnm_ray.score.serialize import dump_model, load_model

    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = make_classifier("sgd", seed=0).fit(X, y)
    data, info = dump_model(clf, probe=X)
    assert info["format"] == "skops"
    np.testing.assert_array_equal(load_model(data, "skops").predict_proba(X), clf.predict_proba(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_fit_predict_and_seeding(name, rng):
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=80) > 0).astype(int)
    a = make_classifier(name, seed=3).fit(X, y).predict_proba(X)
    b = make_classifier(name, seed=3).fit(X, y).predict_proba(X)
    assert a.shape == (80, 2)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_array_equal(a, b)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, a[:, 1]) > 0.8  # learns an easy signal


def test_single_threaded_and_quiet():
    assert make_classifier("knn").n_jobs == 1
    assert make_classifier("xgboost").get_params()["n_jobs"] == 1
    lgbm = make_classifier("lightgbm").get_params()
    assert lgbm["n_jobs"] == 1 and lgbm["verbose"] == -1


def test_overrides_and_errors():
    assert make_classifier("svm", C=3.0).estimator.C == 3.0
    with pytest.raises(ConfigError, match="Did you mean 'mlp'"):
        make_classifier("mpl")
    with pytest.raises(ConfigError, match="invalid parameter.*Did you mean 'C'"):
        make_classifier("lr", Cc=1.0)


@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_search_space_values_are_accepted(name):
    space = search_space(name)
    assert space, f"{name} has no search space"
    params = {}
    for param, (dist, *args) in space.items():
        assert dist in {"uniform", "loguniform", "randint", "choice"}
        params[param] = args[0][0] if dist == "choice" else args[0]
    make_classifier(name, **params)  # every dimension is a real parameter
    assert CLASSIFIERS[name].defaults


def test_to_tune_space_builds_ray_domains():
    pytest.importorskip("ray.tune")
    from ray import tune

    from alnm_ray.model import to_tune_space

    space = to_tune_space(search_space("xgboost"))
    assert isinstance(space["learning_rate"], tune.search.sample.Float)
    assert isinstance(space["max_depth"], tune.search.sample.Integer)
    with pytest.raises(ConfigError, match="distribution"):
        to_tune_space({"C": ("lognormal", 1, 2)})
