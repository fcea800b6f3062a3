"""``alnm-ray report``: the HTML report of a tune run."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import default_of, n_boot_option, seed_option

#: The function every default of `report` comes from.
_BUILD = "alnm_ray.report.build:build_report"


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RUN/report.html).")
@n_boot_option(default_of(_BUILD, "n_boot"), minimum=100, help="Bootstrap replicates for confidence intervals.")
@seed_option(default_of(_BUILD, "seed"), help="Seed of the bootstrap.")
@pass_cli
def report(ctx: CliContext, run: str, out: str | None, n_boot: int, seed: int) -> None:
    """Write one self-contained HTML report of a tune RUN folder.

    The page holds the cohort's baseline table, feature counts after each
    selection step, cross-validation and hold-out performance with 95 % CIs,
    DeLong/NRI/IDI comparisons, ROC, calibration, decision-curve, waterfall,
    LASSO and per-centre plots, and the run's provenance.
    """
    from alnm_ray.report import build_report

    path = build_report(run, out, n_boot=n_boot, seed=seed)
    click.echo(f"report written to {path}")
