"""ClinicalEncoder: in-fold medians and levels, counted imputation and unseen levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.select import ClinicalEncoder, needs_encoding


def test_fit_on_train_apply_to_test():
    train = pd.DataFrame({"age": [40.0, np.nan, 60.0, 50.0], "grade": ["1", "2", "3", "3"],
                          "er": ["neg", "pos", "pos", None]}, index=list("abcd"))
    test = pd.DataFrame({"age": [np.nan], "grade": ["4"], "er": ["pos"]}, index=["t"])
    enc = ClinicalEncoder().fit(train)
    assert enc.medians_ == {"age": 50.0}
    assert enc.categories_ == {"grade": ["1", "2", "3"], "er": ["neg", "pos"]}
    assert enc.imputed_ == {"age": 1, "er": 1}
    assert enc.feature_names_out_ == ["age", "grade=1", "grade=2", "grade=3", "er=pos"]
    out = enc.transform(test)
    assert out.loc["t"].tolist() == [50.0, 0.0, 0.0, 0.0, 1.0]
    assert enc.n_unseen_ == {"grade": 1}
    assert needs_encoding(train) and not needs_encoding(out)


def test_errors():
    with pytest.raises(NotFittedError):
        ClinicalEncoder().transform(pd.DataFrame({"a": [1.0]}))
    enc = ClinicalEncoder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(SchemaMismatchError, match=r"lacks column\(s\) 'b'"):
        enc.transform(pd.DataFrame({"a": [1.0]}))
    ids = pd.DataFrame({"id": [f"x{i}" for i in range(30)]})
    with pytest.raises(SchemaMismatchError, match="30 levels"):
        ClinicalEncoder().fit(ids)
