"""``alnm-ray ibsi``: IBSI conformance of the feature extraction."""

from __future__ import annotations

import json

import click

from alnm_ray.cli._context import CliContext, pass_cli

#: Exit code when a mapped feature fails the phantom check.
EXIT_NOT_CONFORMANT = 1


@click.group("ibsi")
def ibsi() -> None:
    """IBSI conformance: the IBSI-1 digital phantom through the extraction job."""


@ibsi.command("check")
@click.option("--phantom", "phantom_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Folder with the IBSI-1 digital phantom (phantom.nii.gz, mask.nii.gz). Default: the copy "
                   "shipped with alnm-ray.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write every compared value to this JSON file.")
@click.option("--all", "show_all", is_flag=True, help="List every feature, not only conventions and failures.")
@pass_cli
def check(ctx: CliContext, phantom_dir: str | None, json_out: str | None, show_all: bool) -> None:
    """Extract the IBSI-1 phantom with alnm-ray and compare every mapped feature with IBSI-1.

    The phantom goes through the same job as `alnm-ray extract` (params
    validation, Ray Data, a temporary store) with IBSI's phantom settings:
    no preprocessing, one bin per grey level (binWidth 1), NGLDM coarseness
    0; once in 3-D and once with force2D (IBSI's 2.5-D).  Each feature with
    an IBSI equivalent must equal the reference value at three significant
    figures ("match") or after its documented convention ("convention",
    e.g. PyRadiomics's kurtosis + 3).  Exits 1 when any feature fails.

    \b
    Examples:
      alnm-ray ibsi check
      alnm-ray ibsi check --phantom ibsi_1_digital_phantom/nifti --json ibsi.json
    """
    from alnm_ray.standards.phantom import run_phantom_check

    report = run_phantom_check(phantom_dir, ray_config=ctx.ray_config(), quiet=True)
    rows = report.rows
    shown = rows if show_all else rows[rows["outcome"].isin(["convention", "fail"])]
    if len(shown):
        table = shown[["mode", "column", "ibsi_code", "aggregation", "value", "converted", "ibsi_value",
                       "outcome", "detail"]].copy()
        for col in ("value", "converted", "ibsi_value"):
            table[col] = [("" if v is None or v != v else f"{v:.4g}") for v in table[col]]
        click.echo(table.to_string(index=False))
    click.echo(report.summary_line())
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(report.to_json(), fh, indent=1)
    if not report.ok:
        click.echo(f"{report.count('fail')} feature value(s) differ from IBSI-1 without a documented convention. "
                   "Check the PyRadiomics version (3.0.1 is mapped) and alnm_ray/standards/data/"
                   "pyradiomics_ibsi.csv.", err=True)
        raise click.exceptions.Exit(EXIT_NOT_CONFORMANT)
