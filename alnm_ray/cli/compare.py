"""``alnm-ray compare``: evaluate and compare models from any predictions file."""

from __future__ import annotations

import os
from typing import Any

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import UserError
from alnm_ray.cli.options import default_of, format_option, seed_option

#: The function every statistical default of `compare` comes from.
_EVALUATE = "alnm_ray.stats.summary:evaluate_models"

#: Fewest bootstrap replicates ``compare`` accepts: below ~200 the 2.5 % and
#: 97.5 % percentiles rest on a handful of replicates (with 1 replicate the
#: "interval" is a single resampled value that need not contain the estimate).
MIN_N_BOOT = 200
#: Show a progress bar when patients x replicates exceed this (about a second of work).
PROGRESS_MIN_WORK = 50_000_000


def _read_table(path: str) -> tuple[Any, str]:
    """Read CSV/TSV/Parquet; return the frame and how its rows are named in messages."""
    import pandas as pd

    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        return pd.read_parquet(path), "row(s) (1-based)"
    try:
        return pd.read_csv(path, sep="\t" if ext == ".tsv" else ","), "CSV line(s)"
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(
            f"{path}: expected a CSV (or .tsv/.parquet) file with a header row; could not parse it "
            f"({err}). Check the delimiter and encoding (UTF-8)."
        ) from err


def _check_columns(path: str, columns: list[str], label: str, models: tuple[str, ...]) -> None:
    from alnm_ray._validation import did_you_mean

    dupes = sorted({m for m in models if models.count(m) > 1})
    if dupes:
        raise UserError(f"--model: expected each model column once; got {dupes!r} repeated. "
                        "Remove the duplicate --model options.")
    if label in models:
        raise UserError(f"--model: expected prediction columns different from the label; got the "
                        f"label column {label!r} as a model. Pass --label and --model different columns.")
    for opt, col in [("--label", label), *[("--model", m) for m in models]]:
        if col not in columns:
            shown = ", ".join(sorted(columns)[:12]) + (", …" if len(columns) > 12 else "")
            raise UserError(
                f"{path}: {opt} column {col!r} not found; expected one of: {shown}."
                f"{did_you_mean(col, columns)} Fix the {opt} value or the file's header."
            )


@click.command()
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False))
@click.option("--label", required=True, metavar="COL", help="Column with the true outcome, coded 0/1.")
@click.option("--model", "models", required=True, multiple=True, metavar="COL",
              help="Column of one model's predicted probabilities (repeat for several models; "
                   "comparisons follow this order, positive differences favour the earlier model).")
@format_option(help="Aligned text tables or the JSON document (schemas/compare.schema.json).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Decision threshold for accuracy, sensitivity, … (p >= threshold is positive). "
                   "Default: each model's Youden-optimal observed probability on this file.")
@click.option("--n-boot", type=int, default=default_of(_EVALUATE, "n_boot"), show_default=True,
              help=f"Stratified bootstrap replicates for the bootstrap intervals (at least {MIN_N_BOOT}).")
@seed_option(default_of(_EVALUATE, "seed"), help="Seed of the bootstrap.")
@click.option("--level", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
              default=default_of(_EVALUATE, "level"), show_default=True, help="Confidence level of all intervals.")
@click.option("--hl-groups", type=click.IntRange(min=3), default=default_of(_EVALUATE, "hl_groups"),
              show_default=True,
              help="Hosmer-Lemeshow groups (quantile groups; tied probabilities stay together).")
@click.option("--nri-cutoff", "nri_cutoffs", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
              multiple=True, default=(0.5,), show_default=True,
              help="Risk cut-off of the categorical NRI (repeat for more categories).")
@pass_cli
def compare(ctx: CliContext, predictions: str, label: str, models: tuple[str, ...], fmt: str,
            out: str | None, threshold: float | None, n_boot: int, seed: int, level: float,
            hl_groups: int, nri_cutoffs: tuple[float, ...]) -> None:
    """Evaluate and compare models from a PREDICTIONS file (CSV, TSV or Parquet).

    Works for any file with one row per patient, a 0/1 outcome column and
    one probability column per model, whether made by alnm-ray or another
    tool. Reports per model: AUC with DeLong and stratified-bootstrap 95%
    intervals, accuracy, sensitivity, specificity, PPV, NPV, F1 at the
    Youden (or given) threshold, Brier score, calibration intercept and
    slope, Hosmer-Lemeshow, and net benefit at thresholds 0.1-0.9; per pair:
    paired DeLong test, continuous and categorical NRI and IDI.

    Rows with missing values, labels other than 0/1 or probabilities
    outside [0, 1] are reported as errors, never dropped.

    Example: alnm-ray compare preds.csv --label label --model radiomics --model combined
    """
    import json

    from alnm_ray.progress import progress
    from alnm_ray.stats import evaluate_models, format_compare_table, validate_compare_report

    if n_boot < MIN_N_BOOT:
        raise UserError(
            f"--n-boot: expected at least {MIN_N_BOOT} bootstrap replicates (percentile intervals "
            f"need enough replicates to place their limits); got {n_boot}. Pass --n-boot "
            f"{MIN_N_BOOT} or more (default {default_of(_EVALUATE, 'n_boot')()})."
        )
    df, row_kind = _read_table(predictions)
    _check_columns(predictions, [str(c) for c in df.columns], label, models)
    if len(df) == 0:
        raise UserError(f"{predictions}: expected at least one data row; got none. "
                        "Check the file is the predictions table.")
    first_row = 2 if row_kind == "CSV line(s)" else 1
    rows = (row_kind, df.index.to_numpy() + first_row)
    quiet_bar = ctx.quiet or len(df) * n_boot * len(models) < PROGRESS_MIN_WORK
    with progress(n_boot, "bootstrap replicates", quiet=quiet_bar) as bar:
        report = evaluate_models(
            df[label].to_numpy(), {m: df[m].to_numpy() for m in models}, threshold=threshold,
            n_boot=n_boot, seed=seed, level=level, hl_groups=hl_groups, nri_cutoffs=nri_cutoffs,
            label_name=label, rows=rows, bar=bar)
    validate_compare_report(report)
    text = (json.dumps(report, indent=2, allow_nan=False) + "\n" if fmt == "json"
            else format_compare_table(report))
    if out is None:
        click.echo(text, nl=False)
        return
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    if not ctx.quiet:
        click.echo(f"wrote {fmt} comparison of {len(models)} model(s) on {len(df)} patients to {out}",
                   err=True)
