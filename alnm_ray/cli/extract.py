"""``alnm-ray extract``: radiomics features for a manifest into the feature store."""

from __future__ import annotations

import json
import warnings

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import EXIT_CASE_FAILURES
from alnm_ray.cli.options import data_root_option, max_failures_option, report_json_option, store_option

#: Presets ``--preset`` accepts (params + preprocessing).
PRESET_NAMES = ("guo2024",)


@click.command("extract")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@store_option(note="Created when absent.")
@click.option("--params", "params_spec", default=None, metavar="PARAMS.yaml",
              help="PyRadiomics params file (PyRadiomics's own schema). Default: the preset's.")
@click.option("--preprocess", "preprocess_spec", default=None, metavar="CONFIG.yaml|none|guo2024",
              help="Preprocessing plan: a YAML file, a preset name, or 'none' (every step off: PyRadiomics "
                   "sees the files as they are). Default: the preset's.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="guo2024", show_default=True,
              help="Params and preprocessing of a published protocol; --params/--preprocess override parts.")
@click.option("--table", default="radiomics", show_default=True, help="Store table to write.")
@max_failures_option("Exit 0 even when up to N cases fail (failed cases are always in the errors table).")
@report_json_option("Also write the run's counters and timings (per-case seconds included) to this JSON file.")
@data_root_option()
@pass_cli
def extract(cli: CliContext, manifest: str, store: str, params_spec: str | None,
            preprocess_spec: str | None, preset: str, table: str, max_failures: int,
            report_json: str | None, data_root: str | None) -> None:
    """Extract PyRadiomics features for every case of MANIFEST into STORE.

    One case is one (patient, sequence, reader) row.  Cases are spread over
    Ray CPU workers; cases already in the store with the same content hash
    (image, mask, params, preprocessing, library versions) are reused, so a
    re-run computes only what is new.  Failed cases go to the store's errors
    table; the command exits with code 3 when more than --max-failures cases
    failed.

    \b
    Examples:
      alnm-ray extract cohort/manifest.csv --store store/
      alnm-ray extract m.csv --store store/ --params my_params.yaml --preprocess none
    """
    from alnm_ray.cli._redact import register_identifiers
    from alnm_ray.extract.hashing import sha256_file
    from alnm_ray.extract.job import run_extraction
    from alnm_ray.extract.params import load_params
    from alnm_ray.manifest import read_manifest
    from alnm_ray.exceptions import FallbackWarning
    from alnm_ray.preprocess.config import load_plan
    from alnm_ray.store import FeatureStore

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FallbackWarning)
        params = load_params(params_spec or preset)
    for warning in caught:  # user-fixable: one plain line each, not a source-code excerpt
        click.echo(f"warning: {warning.message}", err=True)
    plan = load_plan(preprocess_spec or preset)
    # Files are opened by the workers: an unreadable image becomes an error row, not a rejected manifest.
    df = read_manifest(manifest, check_files=False, data_root=data_root)
    register_identifiers(df["patient_id"].astype(str))  # kept out of logs above DEBUG
    opened = FeatureStore(store)
    opened.check_writable()  # fail now, not after the extraction
    lineage = {"manifest": click.format_filename(manifest), "manifest_sha256": sha256_file(manifest),
               "preset": preset, "params_source": params.source, "preprocess_plan": plan.name}
    report = run_extraction(df, opened, params=params, plan=plan, table=table, lineage=lineage,
                            quiet=cli.quiet, debug=cli.debug, ray_config=cli.ray_config())
    click.echo(report.summary_line())
    from alnm_ray.standards.dictionary import write_feature_dictionary

    write_feature_dictionary(opened)  # IBSI identity of every feature column (`SELECT * FROM feature_dictionary`)
    if report_json:
        with open(report_json, "w", encoding="utf-8") as fh:
            json.dump(report.to_json(), fh, indent=1)
    if report.failed:
        click.echo(report.failure_summary(), err=True)
        if report.failed > max_failures:
            click.echo(f"{report.failed} case(s) failed, more than --max-failures {max_failures}; the "
                       f"version was written with its error rows. Fix the inputs (or raise --max-failures).",
                       err=True)
            raise click.exceptions.Exit(EXIT_CASE_FAILURES)
