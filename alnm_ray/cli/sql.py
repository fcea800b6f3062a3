"""``alnm-ray sql``: read-only DuckDB SQL over the feature store.

A small result of plain types (:class:`alnm_ray.store.sql.Rows`) is printed
from DuckDB's rows here, as :func:`alnm_ray.store.output.write_result` prints
its Arrow table, character for character; neither pyarrow nor numpy is
imported for it.  Any other result (and ``--format parquet``) goes through
Arrow and ``write_result``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import Interrupted, UserError
from alnm_ray.cli.options import STORE_ENVVAR, format_option, store_option  # noqa: F401 - STORE_ENVVAR: old import path

if TYPE_CHECKING:
    from alnm_ray.store.sql import Rows

#: Output formats (kept here so --help does not import the store).
FORMATS = ("table", "csv", "json", "parquet")
#: DuckDB types shown right-aligned in a text table (Arrow's integers and floats).
_NUMERIC = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                      "UINTEGER", "UBIGINT", "DOUBLE"})
#: Widest cell and NULL of text tables, as :mod:`alnm_ray.store.output` has them.
_MAX_CELL, _NULL = 40, "NULL"


class _Size(click.ParamType):
    """A memory size (``2GB``, ``512MB``, ``25%``), checked when the command runs."""

    name = "SIZE"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from alnm_ray.exceptions import ConfigError
        from alnm_ray.store.limits import parse_size

        try:
            return parse_size(value)
        except ConfigError as err:
            self.fail(str(err), param, ctx)


@click.command("sql")
@click.argument("query")
@store_option()
@format_option(FORMATS, help="Output format; parquet needs --out.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the result to FILE instead of stdout.")
@click.option("--max-rows", type=click.IntRange(min=1), default=100, show_default=True,
              help="Rows shown by --format table on the terminal.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=300.0,
              show_default=True, metavar="SECONDS", help="Stop the query after this many seconds.")
@click.option("--memory-limit", type=_Size(), default=None, metavar="SIZE",
              help="Memory the query may use, e.g. 2GB, 512MB or 25% (default: 25% of RAM).")
@pass_cli
def sql(cli: CliContext, query: str, store: str, fmt: str, out: str | None, max_rows: int,
        timeout: float, memory_limit: int | None) -> None:
    """Run one read-only SQL QUERY over the store (DuckDB).

    Each table is a view of its latest version (radiomics, deep, clinical,
    cv_results, predictions, imported tables…); `errors` holds per-case
    failures, `catalog` one row per version.  Name a specific version as
    "radiomics@<id prefix>" or table_at('radiomics', '<id prefix>');
    <table>_wide is the per-patient wide view (<SEQUENCE>__<feature>).
    Only SELECT runs: no writes, COPY, ATTACH, INSTALL/LOAD or file reads.
    QUERY "-" reads the query from stdin.  A query runs at most --timeout
    seconds within --memory-limit; Ctrl-C stops it (exit 130).  A damaged
    version is left out with a warning (see `alnm-ray features verify`).

    \b
    Examples:
      alnm-ray sql --store store "SELECT center, count(*) FROM radiomics GROUP BY center"
      alnm-ray sql --store store "SELECT * FROM errors" --format csv --out errors.csv
    """
    if fmt == "parquet" and out is None:
        raise UserError("--format parquet: expected --out FILE (Parquet is binary and is not "
                        "printed); got no --out. Add e.g. --out result.parquet.")
    text = sys.stdin.read() if query == "-" else query
    from alnm_ray.store.limits import SQLLimits
    from alnm_ray.store.sql import Rows, query_rows
    from alnm_ray.store.sql import query as run_query

    limits = SQLLimits(timeout_s=timeout, memory_limit=memory_limit)
    try:
        result = (run_query if fmt == "parquet" else query_rows)(store, text, limits=limits)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the query was stopped by Ctrl-C (SIGINT) before it finished; nothing was "
            "written. Re-run it when wanted, narrowed by a filter or LIMIT if it was slow, or "
            "bound it with --timeout SECONDS.") from None
    if isinstance(result, Rows):
        write_rows(result, fmt, out=out, stream=sys.stdout, max_rows=max_rows)
    else:
        from alnm_ray.store.output import write_result

        write_result(result, fmt, out=out, stream=sys.stdout, max_rows=max_rows)
    if out is not None and not cli.quiet:
        click.echo(f"wrote {result.num_rows} row(s) × {result.num_columns} column(s) to {out}",
                   err=True)


def write_rows(result: Rows, fmt: str, *, out: str | None = None, stream: TextIO | None = None,
               max_rows: int | None = None) -> None:
    """Write ``result`` as :func:`~alnm_ray.store.output.write_result` writes its Arrow table.

    Args:
        result: The rows (every column of a :data:`~alnm_ray.store.sql.ROW_TYPES` type).
        fmt: ``table``, ``csv`` or ``json`` (``parquet`` goes through Arrow).
        out: File to write; ``None`` writes to ``stream``.
        stream: Text stream for ``out=None`` (default ``sys.stdout``).
        max_rows: Row cap for the ``table`` format on a stream.
    """
    if fmt == "csv":
        from alnm_ray.csvsafe import rows_to_csv

        text = rows_to_csv(result.names, result.types, result.rows)  # no formulas (CSV injection)
    elif fmt == "json":
        # output.to_json: Arrow's to_pylist (a repeated name keeps its last value); NaN/inf -> null
        text = json.dumps([{n: _json_value(v) for n, v in zip(result.names, row)} for row in result.rows],
                          indent=1, allow_nan=False) + "\n"
    elif fmt == "table":
        text = format_rows(result, max_rows=None if out else max_rows) + "\n"
    else:
        raise UserError(f"format: expected table, csv or json for rows; got {fmt!r}.")
    if out is not None:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        (stream or sys.stdout).write(text)


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _cell(value: Any) -> str:
    """As :func:`alnm_ray.store.output._cell`, for the values of :data:`~alnm_ray.store.sql.ROW_TYPES`."""
    if value is None:
        return _NULL
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def format_rows(result: Rows, *, max_rows: int | None = None) -> str:
    """``result`` as :func:`alnm_ray.store.output.format_table` renders its Arrow table.

    Example:
        >>> from alnm_ray.store.sql import Rows
        >>> print(format_rows(Rows(("center", "n"), ("VARCHAR", "BIGINT"), [("A", 3)])))
        center  n
        ------  -
        A       3
        (1 row)
    """
    shown = result.rows if max_rows is None else result.rows[:max_rows]
    names = result.names
    columns = [[_cell(row[i]) for row in shown] for i in range(len(names))]
    numeric = [t in _NUMERIC for t in result.types]
    widths = [max([len(n), *(len(c) for c in col)]) for n, col in zip(names, columns)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [line(list(names)), line(["-" * w for w in widths])]
    out += [line([col[r] for col in columns]) for r in range(len(shown))]
    total = result.num_rows
    footer = f"({total} row{'s' if total != 1 else ''}"
    if len(shown) < total:
        footer += f", showing the first {len(shown)}; use --format csv or --out for all"
    out.append(footer + ")")
    return "\n".join(out)
