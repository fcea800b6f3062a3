"""``alnm-ray validate``: check a manifest before any work starts."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import UserError
from alnm_ray.cli.options import data_root_option


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--clinical", type=click.Path(dir_okay=False), default=None,
              help="Clinical table (CSV/Parquet) keyed by patient_id; every patient needs a row.")
@click.option("--extra-sequence", "extra_sequences", multiple=True, metavar="NAME",
              help="Allow a sequence name besides the built-in ones (repeatable).")
@data_root_option()
@click.option("--no-files", is_flag=True, help="Check the table only; do not open images and masks.")
@click.option("--allow-partial-roi", is_flag=True,
              help="Accept ROIs covering less than half of their mask's non-zero pixels (masks that label "
                   "several structures on purpose).")
@pass_cli
def validate(ctx: CliContext, manifest: str, clinical: str | None, extra_sequences: tuple[str, ...],
             data_root: str | None, no_files: bool, allow_partial_roi: bool) -> None:
    """Validate a cohort MANIFEST (CSV or Parquet).

    Checks the schema and ids, that every image and mask exists, is a
    regular file (or DICOM folder) and is readable, that each mask decodes as
    the manifest says (integer label, R,G,B colour or threshold) into an ROI
    that is not empty, not a scatter of isolated pixels and not a small part
    of the mask, that it matches its image's geometry, that keys are unique
    and labels are 0/1, and (with --clinical) that every patient has a
    clinical row. Every problem is reported at once, with
    its row, column, what was expected, what was found and how to fix it.
    """
    from alnm_ray.manifest import validate_manifest

    from alnm_ray.cli._redact import register_identifiers

    report, df = validate_manifest(manifest, clinical, check_files=not no_files,
                                   extra_sequences=extra_sequences, data_root=data_root,
                                   allow_partial_roi=allow_partial_roi)
    if "patient_id" in df.columns:  # kept out of logs above DEBUG (unless --log-identifiers)
        register_identifiers(df["patient_id"].dropna().astype(str))
    if not report.ok:
        raise UserError(f"{report.source}: {len(report.problems)} problem(s) found:\n"
                        + "\n".join(f"  - {line}" for line in report.lines()))
    click.echo(report.summary())
