"""``alnm-ray report``: the HTML report of a tune run."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RUN/report.html).")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Bootstrap replicates for confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
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
