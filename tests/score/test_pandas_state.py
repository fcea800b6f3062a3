"""pandas objects inside fitted estimators travel through skops as plain data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from alnm_ray.score import pandas_state
from alnm_ray.score.pandas_state import PandasState


def test_frames_series_and_indexes_round_trip():
    frame = pd.DataFrame({"B": [0.9, np.nan], "A2": [0.95, 0.7], "kind": ["x", None]},
                         index=pd.Index(["f1", "f2"], name="feature"))
    series = pd.Series([1, 2], index=pd.Index(["a", "b"]), name="n")
    for obj in (frame, series, frame.index):
        again = PandasState.from_pandas(obj).to_pandas()
        if isinstance(obj, pd.DataFrame):
            pd.testing.assert_frame_equal(again, obj)
        elif isinstance(obj, pd.Series):
            pd.testing.assert_series_equal(again, obj)
        else:
            pd.testing.assert_index_equal(again, obj)


def test_encode_leaves_the_live_model_alone_and_skops_rebuilds_it(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.table_ = pd.DataFrame({"icc": [0.91, 0.97]}, index=pd.Index(["a", "b"], name="feature"))
    encoded = pandas_state.encode(model)
    assert isinstance(model.table_, pd.DataFrame) and isinstance(encoded.table_, PandasState)
    data = sio.dumps(encoded)
    assert sio.get_untrusted_types(data=data) == ["alnm_ray.score.pandas_state.PandasState"]
    again = pandas_state.decode(sio.loads(data, trusted=["alnm_ray.score.pandas_state.PandasState"]))
    pd.testing.assert_frame_equal(again.table_, model.table_)
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
