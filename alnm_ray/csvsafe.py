"""CSV outputs that a spreadsheet cannot turn into formulas (CSV injection).

Every CSV file the package writes goes through :func:`neutralize_frame`
(pandas) or :func:`safe_arrow_table` (pyarrow).  Following the OWASP rule, a text cell
(or column name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote, so ``=HYPERLINK(…)`` is shown
as text instead of being evaluated.  Numeric columns are never touched, and
neither is text that is a plain number (``-0.5`` stays ``-0.5``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def neutralize_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula.

    Example:
        >>> neutralize_cell('=HYPERLINK("http://x")')
        '\\'=HYPERLINK("http://x")'
        >>> neutralize_cell("-0.5"), neutralize_cell(-3)
        ('-0.5', -3)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _is_number(value.strip()):
        return "'" + value
    return value


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are neutralised (numeric columns untouched)."""
    import pandas  # only here: `alnm-ray sql --format csv` never loads pandas

    out = df.copy()
    for column in out.columns:
        series = out[column]
        if pandas.api.types.is_numeric_dtype(series) or pandas.api.types.is_bool_dtype(series):
            continue
        if series.map(lambda v: isinstance(v, str)).any():
            out[column] = series.map(neutralize_cell)
    out.columns = [neutralize_cell(c) for c in out.columns]
    return out


def safe_arrow_table(table: pa.Table) -> pa.Table:
    """``table`` with formula-like string cells and column names neutralised, for ``pyarrow.csv``."""
    columns, names = [], []
    for name, column in zip(table.schema.names, table.columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = column.to_pylist()
            if any(isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values):
                column = pa.chunked_array([pa.array([neutralize_cell(v) for v in values], column.type)])
        elif pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type):
            column = pc.cast(column, pa.string())
            column = pa.chunked_array([pa.array([neutralize_cell(v) for v in column.to_pylist()], pa.string())])
        columns.append(column)
        names.append(neutralize_cell(name))
    return pa.table(columns, names=names)
