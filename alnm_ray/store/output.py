"""Writing query results as a text table, CSV, JSON or Parquet (CLI output)."""

from __future__ import annotations

import datetime as _dt
import decimal
import io
import json
import math
import sys
from typing import Any, TextIO

import pyarrow as pa

from alnm_ray.csvsafe import safe_arrow_table
from alnm_ray.exceptions import ConfigError

#: Output formats of ``alnm-ray sql`` and ``alnm-ray features``.
FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")
#: Widest cell shown in text tables, in characters.
MAX_CELL = 40
_NULL = "NULL"


def _cell(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def format_table(table: pa.Table, *, max_rows: int | None = None) -> str:
    """Render ``table`` as an aligned text table (numbers right-aligned).

    Args:
        table: The rows.
        max_rows: Show at most this many rows and say how many were left out.

    Returns:
        The text, ending with a ``(N rows)`` line.

    Example:
        >>> print(format_table(pa.table({"center": ["A"], "n": [3]})))
        center  n
        ------  -
        A       3
        (1 row)
    """
    shown = table if max_rows is None else table.slice(0, max_rows)
    names = table.schema.names
    columns = [[_cell(v) for v in shown.column(i).to_pylist()] for i in range(len(names))]
    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or
               pa.types.is_decimal(f.type) for f in table.schema]
    widths = [max([len(n), *(len(c) for c in col)]) for n, col in zip(names, columns)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(list(names)), line(["-" * w for w in widths])]
    out += [line([col[r] for col in columns]) for r in range(shown.num_rows)]
    total = table.num_rows
    footer = f"({total} row{'s' if total != 1 else ''}"
    if shown.num_rows < total:
        footer += f", showing the first {shown.num_rows}; use --format csv or --out for all"
    out.append(footer + ")")
    return "\n".join(out)


def jsonable(value: Any) -> Any:
    """``value`` with every part JSON can hold: NaN/inf -> None, dates -> ISO text, bytes -> hex.

    Example:
        >>> jsonable({"auc": float("nan"), 1: (b"\\x01", 2.5)})
        {'auc': None, '1': ['01', 2.5]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def to_json(table: pa.Table) -> str:
    """The rows as a JSON array of objects (NaN/inf become null, times ISO-8601)."""
    return json.dumps([jsonable(r) for r in table.to_pylist()], indent=1, allow_nan=False)


def write_result(table: pa.Table, fmt: str = "table", *, out: str | None = None,
                 stream: TextIO | None = None, max_rows: int | None = None) -> None:
    """Write ``table`` in ``fmt`` to the file ``out`` or to ``stream`` (stdout).

    Args:
        table: The rows.
        fmt: One of :data:`FORMATS`.
        out: File to write; ``None`` writes text formats to ``stream``.
        stream: Text stream for ``out=None`` (default ``sys.stdout``).
        max_rows: Row cap for the ``table`` format on a stream.

    Raises:
        ConfigError: ``parquet`` without ``out``, or an unknown format.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format: expected one of {', '.join(FORMATS)}; got {fmt!r}.")
    if fmt == "parquet":
        if out is None:
            raise ConfigError("--format parquet: expected --out FILE (Parquet is binary and is not "
                              "printed); got no --out. Add e.g. --out result.parquet.")
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(safe_arrow_table(table), buffer)  # no spreadsheet formulas (CSV injection)
        text = buffer.getvalue().decode("utf-8")
    elif fmt == "json":
        text = to_json(table) + "\n"
    else:
        text = format_table(table, max_rows=None if out else max_rows) + "\n"
    if out is not None:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        (stream or sys.stdout).write(text)
