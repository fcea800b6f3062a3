"""``alnm-ray embed``: deep embeddings of every case into the store's ``deep`` table."""

from __future__ import annotations

import json
import warnings
from typing import Any

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli._errors import EXIT_CASE_FAILURES
from alnm_ray.cli.options import (
    data_root_option,
    max_failures_option,
    report_json_option,
    seed_option,
    store_option,
)


def _grid(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        parts = tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        parts = ()
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3:
        raise click.BadParameter(f"expected N or D,H,W voxels (e.g. 64 or 32,64,64); got {value!r}.")
    return parts


#: CLI option name -> EmbedConfig field.
_FIELDS = {
    "weights": "weights", "seed": "seed", "grid": "grid", "margin_mm": "margin_mm",
    "lift_depth": "lift_depth", "batch_size": "batch_size", "pool_min": "pool_min",
    "pool_max": "pool_max", "num_cpus_per_actor": "num_cpus_per_actor",
    "num_gpus_per_actor": "num_gpus_per_actor", "torch_threads": "torch_threads", "extractor": "extractor",
}


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@store_option(note="Created when absent.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="MedicalNet-style ResNet-18 checkpoint (.pth). Default: random weights from --seed "
                   "(recorded, with a warning). Nothing is downloaded.")
@click.option("--no-strict-weights", is_flag=True,
              help="Load a checkpoint with missing/unexpected keys (a warning lists them) instead of failing.")
@seed_option(None, help="Seed of the random initialisation (default: EmbedConfig.seed).")
@click.option("--grid", callback=_grid, default=None, metavar="N|D,H,W",
              help="Input grid in voxels (default 64, i.e. 64x64x64).")
@click.option("--margin-mm", type=click.FloatRange(min=0), default=None,
              help="Margin around the lesion's bounding box, mm per side (default 5).")
@click.option("--extractor", default=None, metavar="NAME",
              help="Deep-feature network: resnet18_3d (default; 512 values, 2-D images lifted), resnet18_2d "
                   "(2-D ResNet-18, 512; mammography) or vgg19_2d (VGG-19 reduced to 128; ultrasound). Per "
                   "sequence: `sequence_extractors: {MG_CC: resnet18_2d}` in the --config YAML.")
@click.option("--lift-depth", type=click.IntRange(min=1), default=None,
              help="Slices of the thin volume a 2-D image (mammogram) is repeated into (default 8).")
@click.option("--preprocess", "preprocess", default="guo2024", show_default=True, metavar="CONFIG.yaml|none|guo2024",
              help="Per-sequence preprocessing before the crop, as `alnm-ray extract` uses: guo2024 (MRI: N4, "
                   "z-score, 1 mm resampling), none (the files as they are) or a plan YAML.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="EmbedConfig YAML (options given on the command line override it).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Volumes per actor call (default 4; GPU actors at least 32, in forward passes sized to the "
                   "device's free memory).")
@click.option("--pool-min", type=click.IntRange(min=1), default=None, help="Smallest actor pool (default 1).")
@click.option("--pool-max", type=click.IntRange(min=1), default=None,
              help="Largest actor pool (default: GPUs / --num-gpus-per-actor, else CPUs - 1).")
@click.option("--num-cpus-per-actor", type=click.FloatRange(min=0), default=None,
              help="CPUs (and torch threads) per actor (default 1).")
@click.option("--num-gpus-per-actor", type=click.FloatRange(min=0, min_open=True), default=None,
              help="GPUs per actor when the cluster has GPUs; fractions share a GPU (default 1).")
@click.option("--torch-threads", type=click.IntRange(min=1), default=None,
              help="Torch threads per actor (default: --num-cpus-per-actor).")
@click.option("--table", default="deep", show_default=True, help="Store table to write.")
@max_failures_option(f"Exit 0 even when up to N cases fail (else exit {EXIT_CASE_FAILURES}; failed cases are "
                     "always in the errors table).")
@report_json_option("Also write the run's counters, timings, weights and actor placement to this JSON file.")
@data_root_option()
@pass_cli
def embed(ctx: CliContext, manifest: str, store: str, preprocess: str, config_path: str | None,
          no_strict_weights: bool, table: str, max_failures: int, report_json: str | None,
          data_root: str | None, **options: Any) -> None:
    """Embed every case of MANIFEST with a 3-D ResNet-18 into the store's `deep` table.

    Each case (patient x sequence x reader) becomes 512 values, deep_000 …
    deep_511: the preprocessed image is cropped to the lesion's bounding box
    plus a margin, resized to the grid, z-scored, and passed through MONAI's
    ResNet-18 (one input channel, classifier removed).  2-D mammograms are
    resized in-plane and repeated into a thin slab of --lift-depth slices.

    Runs as a Ray Data actor pool: GPU actors when the cluster has GPUs, CPU
    actors otherwise.  Incremental: cases whose files, preprocessing, config
    and weights are unchanged are reused from the latest version; a re-run
    with nothing new writes nothing.  Failed cases go to the errors table
    (`alnm-ray sql "SELECT * FROM errors"`).

    \b
    Examples:
      alnm-ray embed cohort/manifest.csv --store store/ --weights resnet_18.pth
      alnm-ray --address auto embed m.csv --store s3://bucket/store --num-gpus-per-actor 0.5
    """
    from alnm_ray.cli._redact import register_identifiers
    from alnm_ray.embed.config import EmbedConfig
    from alnm_ray.embed.job import run_embedding
    from alnm_ray.extract.hashing import sha256_file
    from alnm_ray.manifest import read_manifest
    from alnm_ray.preprocess.config import load_plan
    from alnm_ray.store import FeatureStore

    base = EmbedConfig.from_yaml(config_path).to_dict() if config_path else {}
    base.update({_FIELDS[k]: v for k, v in options.items() if v is not None})
    if no_strict_weights:
        base["strict_weights"] = False
    config = EmbedConfig.from_dict(base)
    plan = load_plan(preprocess)
    # Files are opened by the workers: an unreadable image becomes an error row, not a rejected manifest.
    df = read_manifest(manifest, check_files=False, data_root=data_root)
    register_identifiers(df["patient_id"].astype(str))  # kept out of logs above DEBUG
    FeatureStore(store).check_writable()  # fail now, not after the embedding
    lineage = {"manifest": click.format_filename(manifest), "manifest_sha256": sha256_file(manifest),
               "preprocess_plan": plan.name, "weights_path": config.weights}
    from alnm_ray.exceptions import AlnmRayWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", AlnmRayWarning)
        # user-fixable warnings (random weights, partial checkpoint): one plain line each, at once
        warnings.showwarning = lambda message, *_a, **_k: click.echo(f"warning: {message}", err=True)
        summary = run_embedding(df, store, config, plan=plan, table=table, lineage=lineage, quiet=ctx.quiet,
                                debug=ctx.debug, ray_config=ctx.ray_config())
    click.echo(summary.summary_line())
    from alnm_ray.standards.dictionary import write_feature_dictionary

    write_feature_dictionary(store)  # IBSI identity of every feature column (`SELECT * FROM feature_dictionary`)
    if report_json:
        with open(report_json, "w", encoding="utf-8") as fh:
            json.dump(summary.to_json(), fh, indent=1, default=str)
    if summary.failed:
        click.echo(summary.failure_summary(), err=True)
        if summary.failed > max_failures:
            click.echo(f"{summary.failed} case(s) failed, more than --max-failures {max_failures}; the version "
                       "was written with its error rows. Fix the inputs (or raise --max-failures).", err=True)
            raise click.exceptions.Exit(EXIT_CASE_FAILURES)
