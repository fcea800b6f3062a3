"""``alnm-ray features``: list, show, diff, import, verify, repair, compact, vacuum and migrate."""

from __future__ import annotations

import json
from typing import Any

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import format_option, store_option

_store_option = store_option()
_format_option = format_option()


def _open(store: str, *, must_exist: bool = True):
    from alnm_ray.store import FeatureStore

    opened = FeatureStore(store)
    if must_exist:
        opened.check_is_store()  # missing, a file, or a folder of something else: refused
    return opened


def _print_rows(rows: list[dict[str, Any]], fmt: str) -> None:
    import pyarrow as pa

    from alnm_ray.store.output import format_table, to_json

    table = pa.Table.from_pylist(rows) if rows else pa.table({"(none)": pa.array([], pa.string())})
    click.echo(to_json(table) if fmt == "json" else format_table(table))


@click.group("features")
def features() -> None:
    """List, inspect, compare, import, verify and repair versioned feature tables.

    A reference is TABLE (its latest version) or TABLE@VERSION: a full id or a
    unique prefix (radiomics@3fa2c1), or a Delta version number (radiomics@12,
    radiomics@v12: the version current at that Delta commit).  Each table is a
    Delta Lake table under STORE/tables/ that Spark, polars, DuckDB and pandas
    read as well.
    """


@features.command("list")
@click.argument("table", required=False)
@_store_option
@_format_option
def list_(table: str | None, store: str, fmt: str) -> None:
    """List the store's tables, or every version of TABLE (oldest first).

    The status column marks versions whose files are missing or damaged
    (`alnm-ray features verify` checks them in depth).
    """
    from alnm_ray.store.health import check_version
    from alnm_ray.store.versions import SHORT_ID

    opened = _open(store)
    entries, broken = opened.scan(table)

    def status(info) -> str:  # noqa: ANN001
        found = opened._io(lambda: check_version(opened, info), f"check {info.short}")
        return "ok" if not found else f"{found[0].kind}: {found[0].file}"

    bad = {p.table: p for p in broken}
    if table is None:
        rows = []
        for name in sorted({e.table for e in entries} | set(bad)):
            versions = [e for e in entries if e.table == name]
            last = versions[-1] if versions else None
            state = status(last) if last else "ok"
            if name in bad:
                state = f"entry: {bad[name].file} (latest unknown)"
            rows.append({"table": name, "latest": last.version[:SHORT_ID] if last else None,
                         "versions": len(versions) + sum(p.table == name for p in broken),
                         "rows": last.rows if last else None, "cases": last.cases if last else None,
                         "failures": last.failures if last else None,
                         "created": last.created[:19] if last else None, "status": state})
    else:
        if not entries and not broken:
            opened.resolve(table)  # raises the "no such table" message with suggestions
        rows = [{"version": v.version[:SHORT_ID], "delta": v.delta_version, "mode": v.mode,
                 "created": v.created[:19], "rows": v.rows,
                 "cases": v.cases, "failures": v.failures,
                 "parent": v.parent[:SHORT_ID] if v.parent else None,
                 "latest": v is entries[-1] and not broken, "status": status(v)} for v in entries]
        rows += [{"version": p.version[:SHORT_ID], "delta": None, "mode": None, "created": None,
                  "rows": None, "cases": None,
                  "failures": None, "parent": None, "latest": None,
                  "status": f"entry: {p.detail[:60]}"} for p in broken]
    _print_rows(rows, fmt)
    damaged = [r for r in rows if r["status"] != "ok"]
    if damaged:
        click.echo(f"warning: {len(damaged)} damaged; run `alnm-ray features verify --store {store}` "
                   f"for details and `alnm-ray features repair --store {store}` to quarantine them.",
                   err=True)


@features.command("show")
@click.argument("ref", metavar="TABLE[@VERSION]")
@_store_option
@_format_option
@click.option("--columns", "list_columns", is_flag=True,
              help="List every feature column with its IBSI conformance statement.")
def show(ref: str, store: str, fmt: str, list_columns: bool) -> None:
    """Show one version's catalog entry, columns, IBSI conformance and error summary."""
    from alnm_ray.standards import conformance_for_columns
    from alnm_ray.store.wide import NON_FEATURE_COLUMNS

    opened = _open(store)
    info = opened.resolve(ref)
    errors = opened.read_errors(info.table, info.version)
    summary: list[dict[str, Any]] = []
    if errors.num_rows:
        grouped = errors.group_by(["stage", "error_type"]).aggregate([([], "count_all")])
        summary = sorted(grouped.to_pylist(), key=lambda r: -r["count_all"])
    meta = [n for n in info.column_names if n in NON_FEATURE_COLUMNS or n in info.key]
    feats = [n for n in info.column_names if n not in meta]
    statements = dict(zip(feats, conformance_for_columns(feats)))
    if fmt == "json":
        click.echo(json.dumps({**info.to_dict(), "errors_summary": summary,
                               "ibsi_conformance": statements}, indent=1))
        return
    lines = [
        f"table     {info.table}", f"version   {info.version}", f"created   {info.created}",
        f"rows      {info.rows}", f"cases     {info.cases}", f"failures  {info.failures}",
        f"parent    {info.parent or '-'}", f"path      {info.path}",
        f"delta     version {info.delta_version} ({info.mode}; reads version {info.read_version})",
        f"key       {', '.join(info.key) or '-'}",
        f"columns   {len(info.columns)}: {', '.join(meta) or '-'} + {len(feats)} other"
        + (f" ({', '.join(feats[:5])}{', …' if len(feats) > 5 else ''})" if feats else ""),
        f"written   alnm-ray {info.package_version or '?'}",
        "params    " + json.dumps(info.params, indent=1, sort_keys=True).replace("\n", "\n          "),
        "lineage   " + json.dumps(info.lineage, indent=1, sort_keys=True).replace("\n", "\n          "),
        "counts    " + json.dumps(info.counts, sort_keys=True),
    ]
    if feats:
        tally: dict[str, int] = {}
        for statement in statements.values():
            kind = statement.split(" (")[0]
            tally[kind] = tally.get(kind, 0) + 1
        lines.append("ibsi      " + ", ".join(f"{n} {kind}" for kind, n in sorted(tally.items()))
                     + ("" if list_columns else " (--columns lists each feature)"))
    click.echo("\n".join(lines))
    if list_columns:
        for name in feats:
            click.echo(f"  {name}\t{statements[name]}")
    if summary:
        click.echo(f"errors    {errors.num_rows} row(s) (see: alnm-ray sql \"SELECT * FROM errors\")")
        for row in summary[:10]:
            click.echo(f"          {row['count_all']:>5}  {row['stage']}: {row['error_type']}")


@features.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@_store_option
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Changed features listed (largest difference first).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Absolute difference under which two numbers count as equal.")
@_format_option
def diff(a: str, b: str, store: str, top: int, tolerance: float, fmt: str) -> None:
    """Compare versions A and B (TABLE or TABLE@VERSION): columns, rows, values."""
    from alnm_ray.store.diff import diff_versions

    result = diff_versions(_open(store), a, b, tolerance=tolerance)
    body: dict[str, Any] = {
        "a": result.a.ref, "b": result.b.ref, "key": list(result.key),
        "added_columns": result.added_columns, "removed_columns": result.removed_columns,
        "type_changes": [list(t) for t in result.type_changes],
        "rows_a": result.rows_a, "rows_b": result.rows_b, "only_a": result.only_a,
        "only_b": result.only_b, "common": result.common, "changed_rows": result.changed_rows,
        "unchanged_features": result.unchanged_features,
        "features": [{"column": f.column, "max_abs_diff": f.max_abs_diff, "changed": f.changed}
                     for f in result.features],
    }
    if fmt == "json":
        from alnm_ray.store.output import jsonable

        click.echo(json.dumps(jsonable(body), indent=1))
        return

    def names(cols: list[str]) -> str:
        return f"{len(cols)}" + (f" ({', '.join(cols[:8])}{', …' if len(cols) > 8 else ''})" if cols else "")

    lines = [f"A  {result.a.short}  ({result.rows_a} rows)", f"B  {result.b.short}  ({result.rows_b} rows)",
             f"columns added in B: {names(result.added_columns)}",
             f"columns removed in B: {names(result.removed_columns)}"]
    lines += [f"type changed: {c} {ta} -> {tb}" for c, ta, tb in result.type_changes]
    if not result.key:
        lines.append("rows: no shared key (cohort, center, patient_id, sequence, reader); values "
                     "not compared")
    else:
        lines.append(f"rows: {result.common} in both, {result.only_a} only in A, "
                     f"{result.only_b} only in B; {result.changed_rows} changed "
                     f"(matched on {', '.join(result.key)})")
        lines.append(f"features: {len(result.features)} changed, {result.unchanged_features} "
                     "identical on the common rows")
    click.echo("\n".join(lines))
    if result.features:
        _print_rows(body["features"][:top], "table")


@features.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_store_option
@click.option("--name", required=True, help="Table name (lower-case identifier, e.g. clinical).")
@click.option("--key", default="patient_id", show_default=True,
              help="Column with the patient id (stored as patient_id; must be unique).")
@click.option("--label", default=None, help="Column with the 0/1 outcome (stored as label).")
@click.option("--center", default=None, help="Column with the centre (stored as center).")
@click.option("--role", default="feature", show_default=True,
              help="What the table holds: feature (modelled by tune/train/score), output (results) "
                   "or dictionary.")
@pass_cli
def import_(cli: CliContext, file: str, store: str, name: str, key: str, label: str | None,
            center: str | None, role: str) -> None:
    """Register FILE (.csv/.tsv/.parquet, one row per patient) as a versioned table.

    Feature columns must be numeric; the key must be unique; the label 0/1.
    Importing the same file again is a no-op.  tune and score can then use
    the table like any extracted one (unless --role says it is not features).
    """
    from alnm_ray.store.imports import import_table

    result = import_table(_open(store, must_exist=False), file, name=name, key=key, label=label,
                          center=center, role=role)
    info = result.info
    state = "imported as" if result.new else "already imported as"
    click.echo(f"{state} {info.short}: {info.rows} rows, {result.features} features"
               + (f" (parent {info.parent[:12]})" if info.parent else ""))
    if not cli.quiet:
        click.echo(f"query it: alnm-ray sql --store {store} \"SELECT * FROM {info.table} LIMIT 5\"",
                   err=True)


@features.command("verify")
@_store_option
@_format_option
def verify(store: str, fmt: str) -> None:
    """Check every version: files present, sizes and SHA-256 as recorded, schemas readable.

    Prints one line per problem (table@version, file, what is wrong); exits 0
    when the store is clean, 1 when something is damaged.  `alnm-ray features
    repair` moves the damaged versions into the store's _quarantine/ folder.
    """
    from alnm_ray.store.health import verify as run_verify

    report = run_verify(_open(store))
    if fmt == "json":
        click.echo(json.dumps({"versions": report.versions, "ok": report.ok,
                               "problems": [vars(p) for p in report.problems]}, indent=1))
    else:
        for problem in report.problems:
            click.echo(problem.line())
        if report.ok:
            click.echo(f"ok: {report.versions} version(s) checked, no problem found")
        else:
            click.echo(f"{len(report.problems)} problem(s) in {len(report.damaged)} of "
                       f"{report.versions} version(s): {', '.join(report.damaged[:8])}"
                       f"{', …' if len(report.damaged) > 8 else ''}. Run `alnm-ray features repair "
                       f"--store {store}` to move them into _quarantine/ (nothing is deleted), or "
                       "restore the files from a backup.")
    if not report.ok:
        raise click.exceptions.Exit(1)


@features.command("repair")
@_store_option
def repair(store: str) -> None:
    """Move damaged files into STORE/_quarantine/ and restore damaged tables.

    Nothing is deleted: the quarantine folder holds REASON.txt (what was
    wrong, where each file came from, how to put it back).  A table whose
    latest version is damaged is restored (a Delta RESTORE commit) to its
    newest healthy version.  A second run changes nothing.
    """
    from alnm_ray.store.repair import repair as run_repair

    moved = run_repair(_open(store))
    for item in moved:
        click.echo(f"repaired {item.table} (latest now {item.table}@{item.version[:12]}) -> "
                   f"{item.destination} ({item.problems[0].kind}: {item.problems[0].file})")
        for src, dst in item.items:
            click.echo(f"  moved {src} -> {dst}")
    click.echo(f"{len(moved)} table(s) repaired" if moved else "nothing to repair: no damaged version")


@features.command("compact")
@click.argument("tables", nargs=-1)
@_store_option
def compact(tables: tuple[str, ...], store: str) -> None:
    """Merge each table's small files into larger ones (Delta OPTIMIZE).

    Every version keeps its rows (a compaction is a commit that changes no
    row); reads of the latest version open fewer files.  All tables unless
    TABLES are named.
    """
    from alnm_ray.store.maintenance import compact as run_compact

    for table, metrics in run_compact(_open(store), tables or None).items():
        click.echo(f"{table}: {metrics.get('numFilesRemoved', 0)} file(s) merged into "
                   f"{metrics.get('numFilesAdded', 0)}")


@features.command("vacuum")
@_store_option
@click.option("--retention-hours", type=click.FloatRange(min=0), default=168, show_default=True,
              help="Keep files removed less than this long ago.")
@click.option("--keep", "keep", multiple=True, metavar="TABLE@VERSION",
              help="Also keep this version (repeatable).")
@click.option("--apply", "apply", is_flag=True,
              help="Delete the files (without it, only list what would go).")
def vacuum(store: str, retention_hours: float, keep: tuple[str, ...], apply: bool) -> None:
    """Delete data files no kept version needs (a dry run unless --apply).

    Kept whatever their age: each table's latest version, every version named
    in the lineage of a stored version (tune runs, predictions) and every
    version pinned by `alnm-ray train` for a bundle, plus --keep.  Older
    versions that are none of these can no longer be read afterwards.
    """
    from alnm_ray.store.maintenance import check_ref, vacuum as run_vacuum

    report = run_vacuum(_open(store), retention_hours=retention_hours, dry_run=not apply,
                        keep=[check_ref(k) for k in keep])
    for table, files in sorted(report.files.items()):
        click.echo(f"{table}: {len(files)} file(s) {'to delete' if report.dry_run else 'deleted'}")
    for table, kept in sorted(report.kept.items()):
        if kept:
            click.echo(f"{table}: kept pinned {', '.join(k.split('@')[1][:12] for k in kept)}")
    verb = "would be deleted (run again with --apply)" if report.dry_run else "deleted"
    click.echo(f"{report.count} file(s) {verb}")


@features.command("migrate")
@click.argument("old_store", metavar="STORE")
def migrate(old_store: str) -> None:
    """Convert a store of the old layout (Parquet folders + _catalog/) to Delta Lake tables.

    Every version is kept, oldest first, under its own id, with its params,
    lineage, counts and error rows; the old folders move into
    STORE/_legacy_v1/ (delete it once the new store checks out with
    `alnm-ray features verify`).  Running it again finishes an interrupted
    migration; on a migrated store it does nothing.
    """
    from alnm_ray.store.migrate import migrate as run_migrate

    result = run_migrate(old_store)
    for table, count in sorted(result.tables.items()):
        click.echo(f"{table}: {count} version(s)")
    click.echo(f"migrated {sum(result.tables.values())} version(s) of {len(result.tables)} table(s) "
               f"in {result.seconds:.1f} s; the old layout is in {result.legacy}" if result.tables
               else "nothing to migrate: the store already uses Delta Lake tables")
