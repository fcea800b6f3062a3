"""CSV outputs that a spreadsheet cannot turn into formulas (CSV injection).

Every CSV file the package writes goes through :func:`neutralize_frame`
(pandas), :func:`safe_arrow_table` (pyarrow) or :func:`rows_to_csv` (plain
Python rows, written as ``pyarrow.csv`` writes their Arrow table).  Following the OWASP rule, a text cell
(or column name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote, so ``=HYPERLINK(…)`` is shown
as text instead of being evaluated.  Numeric columns are never touched, and
neither is text that is a plain number (``-0.5`` stays ``-0.5``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # both imported where used: `alnm-ray sql` prints small results without them
    import pandas as pd
    import pyarrow as pa

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
    import pyarrow as pa
    import pyarrow.compute as pc

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


#: DuckDB types :func:`rows_to_csv` writes: integers, DOUBLE, BOOLEAN and VARCHAR.
CSV_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                          "UINTEGER", "UBIGINT"})


def csv_double(value: float) -> str:
    """``value`` as ``pyarrow.csv`` writes a float64 (shortest round-trip digits).

    Fixed notation for decimal exponents -6 to 9, else ``d.ddde±x``; ``nan``,
    ``inf``, ``-inf``; no trailing ``.0``.

    Example:
        >>> [csv_double(v) for v in (2.0, 0.1, 1e-7, 1e10, 1234567.0, -0.0)]
        ['2', '0.1', '1e-7', '1e+10', '1234567', '-0']
    """
    if value != value:
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exp = text.lstrip("-").partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    if not digits.strip("0"):
        return sign + "0"
    point = len(whole) + int(exp or 0) - (len(whole + frac) - len(digits))  # value = 0.<digits> × 10**point
    digits = digits.rstrip("0")
    exponent = point - 1
    if -6 <= exponent < 10:
        if point <= 0:
            body = "0." + "0" * -point + digits
        elif point >= len(digits):
            body = digits + "0" * (point - len(digits))
        else:
            body = digits[:point] + "." + digits[point:]
    else:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + "e" + \
            ("-" if exponent < 0 else "+") + str(abs(exponent))
    return sign + body


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def rows_to_csv(names: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows of DuckDB ``types`` as CSV text, neutralised, exactly as ``pyarrow.csv`` writes their table.

    The text :func:`safe_arrow_table` and ``pyarrow.csv.write_csv`` make of
    the same result: every name and text cell quoted (``"`` doubled) and
    neutralised (:func:`neutralize_cell`), numbers bare (:func:`csv_double`),
    ``true``/``false``, an empty field for NULL, ``\n`` line ends.

    Args:
        names: Column names.
        types: DuckDB type of each column: one of :data:`CSV_INTEGERS`,
            ``DOUBLE``, ``BOOLEAN``, ``VARCHAR``.
        rows: The rows.

    Raises:
        ValueError: Another type (write it through Arrow instead).

    Example:
        >>> print(rows_to_csv(["who", "n"], ["VARCHAR", "BIGINT"], [("=1+1", 2), (None, None)]), end="")
        "who","n"
        "'=1+1",2
        ,
    """
    cells: list[Any] = []
    for kind in types:
        if kind == "VARCHAR":
            cells.append(lambda v: _quoted(neutralize_cell(v)))
        elif kind == "DOUBLE":
            cells.append(csv_double)
        elif kind == "BOOLEAN":
            cells.append(lambda v: "true" if v else "false")
        elif kind in CSV_INTEGERS:
            cells.append(str)
        else:
            raise ValueError(f"rows_to_csv: expected integer, DOUBLE, BOOLEAN or VARCHAR columns; "
                             f"got {kind!r}. Write this result through Arrow (safe_arrow_table).")
    lines = [",".join(_quoted(neutralize_cell(str(n))) for n in names)]
    for row in rows:
        lines.append(",".join("" if v is None else cell(v) for cell, v in zip(cells, row)))
    return "\n".join(lines) + "\n"
