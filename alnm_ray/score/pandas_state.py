"""Carry pandas objects in fitted estimators through skops.

skops cannot rebuild pandas objects (their Cython internals have no default
``__reduce__``), and some fitted selection steps keep one (e.g.
:class:`~alnm_ray.select.icc.ICCFilter` keeps its per-feature ICC table as
``icc_``).  Rather than pickling the whole model for that, :func:`encode`
returns a deep copy in which every ``DataFrame``/``Series``/``Index`` held in
an estimator attribute is replaced by a :class:`PandasState` (plain lists and
NumPy arrays, which skops stores safely), and :func:`decode` turns them back
after loading.  The live model is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: Modules whose objects are walked into (estimators and their containers).
_WALKED_PREFIXES: tuple[str, ...] = ("sklearn.", "imblearn.", "alnm_ray.", "xgboost.", "lightgbm.")


def _plain(values: pd.Series | pd.Index) -> Any:
    """Column values as a NumPy array (numeric/bool) or a list of Python objects."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy()
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values.tolist()]


class PandasState:
    """A pandas object as plain data (names, values and dtype strings per column).

    Args:
        kind: ``"frame"``, ``"series"`` or ``"index"``.
        columns: Column names (frames only).
        values: Per column: a NumPy array or a list.
        dtypes: Per column dtype string, restored with ``astype``.
        index: The index as a nested :class:`PandasState` (frames and series).
        name: Series/Index name.
        index_name: Name of the index.
    """

    def __init__(self, kind: str = "frame", columns: list[Any] | None = None, values: list[Any] | None = None,
                 dtypes: list[str] | None = None, index: Any = None, name: Any = None) -> None:
        self.kind = kind
        self.columns = columns or []
        self.values = values or []
        self.dtypes = dtypes or []
        self.index = index
        self.name = name

    @classmethod
    def from_pandas(cls, obj: pd.DataFrame | pd.Series | pd.Index) -> PandasState:
        """Encode a DataFrame, Series or (flat) Index."""
        if isinstance(obj, pd.Index):
            return cls("index", values=[_plain(obj)], dtypes=[str(obj.dtype)], name=obj.name)
        if isinstance(obj, pd.Series):
            return cls("series", values=[_plain(obj)], dtypes=[str(obj.dtype)],
                       index=cls.from_pandas(obj.index), name=obj.name)
        return cls("frame", columns=list(obj.columns), values=[_plain(obj[c]) for c in obj.columns],
                   dtypes=[str(t) for t in obj.dtypes], index=cls.from_pandas(obj.index))

    def to_pandas(self) -> pd.DataFrame | pd.Series | pd.Index:
        """Rebuild the pandas object."""
        if self.kind == "index":
            return pd.Index(self.values[0], dtype=self.dtypes[0], name=self.name)
        index = self.index.to_pandas()
        if self.kind == "series":
            return pd.Series(self.values[0], index=index, name=self.name).astype(self.dtypes[0])
        data = {i: pd.Series(v, index=index).astype(t) for i, (v, t) in enumerate(zip(self.values, self.dtypes))}
        frame = pd.DataFrame(data, index=index)
        frame.columns = list(self.columns)
        return frame


def _walk(obj: Any, convert: Callable[[Any], Any], seen: set[int]) -> Any:
    if isinstance(obj, (pd.DataFrame, pd.Series, pd.Index, PandasState)):
        return convert(obj)
    if isinstance(obj, list):
        return [_walk(v, convert, seen) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, convert, seen) for v in obj)
    if isinstance(obj, dict):
        return {k: _walk(v, convert, seen) for k, v in obj.items()}
    module = type(obj).__module__ + "."
    if hasattr(obj, "__dict__") and module.startswith(_WALKED_PREFIXES) and id(obj) not in seen:
        seen.add(id(obj))
        for key, value in list(vars(obj).items()):
            new = _walk(value, convert, seen)
            if new is not value:
                setattr(obj, key, new)
    return obj


def _encode_one(obj: Any) -> Any:
    if isinstance(obj, pd.Index) and isinstance(obj, pd.MultiIndex):
        return obj  # left as is: skops then refuses and the joblib fallback applies
    return PandasState.from_pandas(obj) if not isinstance(obj, PandasState) else obj


def encode(model: Any) -> Any:
    """A deep copy of ``model`` with pandas attributes replaced by :class:`PandasState`."""
    return _walk(copy.deepcopy(model), _encode_one, set())


def decode(model: Any) -> Any:
    """Turn :class:`PandasState` attributes back into pandas objects (in place; returns ``model``)."""
    return _walk(model, lambda o: o.to_pandas() if isinstance(o, PandasState) else o, set())
