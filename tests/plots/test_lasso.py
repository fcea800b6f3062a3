"""LASSO path and CV curve from scikit-learn's arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LassoCV, lasso_path

from alnm_ray.exceptions import ConfigError
from alnm_ray.plots import plot_lasso_cv, plot_lasso_path


@pytest.fixture
def lasso(rng):
    x = rng.normal(size=(80, 12))
    t = 2 * x[:, 0] - x[:, 1] + rng.normal(size=80)
    cv = LassoCV(cv=4, alphas=30, random_state=0).fit(x, t)
    alphas, coefs, _ = lasso_path(x, t, alphas=cv.alphas_)
    return cv, alphas, coefs


def test_path(lasso, legend):
    cv, alphas, coefs = lasso
    names = [f"T2WI__f{i}" for i in range(12)]
    fig = plot_lasso_path(alphas, coefs, names, alpha_min=cv.alpha_)
    ax = fig.axes[0]
    assert len([ln for ln in ax.lines if len(ln.get_xdata()) == alphas.size]) == 12
    texts = legend(fig)
    assert texts[0] == "T2WI__f0"  # largest |coef| at lambda_min is labelled first
    assert any(t.startswith("λ min") for t in texts)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.log(alphas))


def test_cv_curve(lasso):
    cv, _, _ = lasso
    mean, std = cv.mse_path_.mean(axis=1), cv.mse_path_.std(axis=1)
    fig = plot_lasso_cv(cv.alphas_, mean, std)  # alpha_min defaults to the argmin
    ax = fig.axes[0]
    vline = [ln for ln in ax.lines if ln.get_label().startswith("λ min")][0]
    assert vline.get_xdata()[0] == pytest.approx(np.log(cv.alphas_[np.argmin(mean)]))


def test_shape_errors(lasso):
    cv, alphas, coefs = lasso
    with pytest.raises(ConfigError, match="Transpose it"):
        plot_lasso_path(alphas, coefs.T)
    with pytest.raises(ConfigError, match="feature_names: expected 12 names"):
        plot_lasso_path(alphas, coefs, ["a"])
    with pytest.raises(ConfigError, match="positive penalties"):
        plot_lasso_cv(-alphas, alphas, alpha_min=0.1)
    with pytest.raises(ConfigError, match="mse_std: expected shape"):
        plot_lasso_cv(alphas, alphas, alphas[:3])
