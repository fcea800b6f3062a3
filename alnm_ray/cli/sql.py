"""``alnm-ray sql``: read-only DuckDB SQL over the feature store."""

from __future__ import annotations

import sys

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import Interrupted, UserError
from alnm_ray.cli.options import STORE_ENVVAR, format_option, store_option  # noqa: F401 - STORE_ENVVAR: old import path

#: Output formats (kept here so --help does not import the store).
FORMATS = ("table", "csv", "json", "parquet")


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
    from alnm_ray.store.output import write_result
    from alnm_ray.store.sql import query as run_query

    try:
        result = run_query(store, text, limits=SQLLimits(timeout_s=timeout, memory_limit=memory_limit))
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the query was stopped by Ctrl-C (SIGINT) before it finished; nothing was "
            "written. Re-run it when wanted, narrowed by a filter or LIMIT if it was slow, or "
            "bound it with --timeout SECONDS.") from None
    write_result(result, fmt, out=out, stream=sys.stdout, max_rows=max_rows)
    if out is not None and not cli.quiet:
        click.echo(f"wrote {result.num_rows} row(s) × {result.num_columns} column(s) to {out}",
                   err=True)
