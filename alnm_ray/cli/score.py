"""``alnm-ray score``: label new patients with a frozen bundle, from images or stored features."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import (
    cohorts_option,
    data_root_option,
    default_of,
    max_failures_option,
    n_boot_option,
    seed_option,
    store_option,
)

#: The options every default of `score` comes from.
_OPTIONS = "alnm_ray.score.job:ScoreOptions"


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--manifest", "manifests", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="NEW.csv", help="New cohort manifest (repeatable: several cohorts in one run). The "
                                      "bundle's own preprocessing and extraction run first; cached cases are reused.")
@click.option("--features", "features", multiple=True, metavar="TABLE[@VERSION]",
              help="Score stored features directly (repeatable, one per table the bundle uses; others: latest).")
@store_option()
@click.option("--out", default=None, type=click.Path(dir_okay=False), metavar="predictions.parquet",
              help="Predictions file; reports are written next to it. Default: score-<bundle>-<time>.parquet.")
@cohorts_option("Score only these cohorts of the tables (repeatable).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="PATH",
              help="Deep-model checkpoint the bundle was trained with (checked against its SHA-256).")
@click.option("--align", is_flag=True,
              help="Accept extra or re-ordered feature columns (dropped / reordered, with a warning).")
@click.option("--batch-size", type=click.IntRange(min=1), default=default_of(_OPTIONS, "batch_size"),
              show_default=True,
              help="Patients per chunk scored on a Ray actor (in this process: a partition at once, "
                   "or chunks of this size with --explain).")
@click.option("--max-actors", type=click.IntRange(min=1), default=None,
              help="Largest scoring actor pool (default: CPUs - 1).")
@n_boot_option(default_of(_OPTIONS, "n_boot"), minimum=100,
               help="Bootstrap replicates of the validation intervals.")
@seed_option(default_of(_OPTIONS, "seed"), help="Bootstrap seed.")
@click.option("--no-store-write", is_flag=True, help="Do not write a version of the store's predictions table.")
@click.option("--explain", "explain_k", type=click.IntRange(min=0), default=0, metavar="K",
              help="Add each patient's K largest SHAP contributions to --out (see `alnm-ray explain`).")
@max_failures_option("Exit 0 even when up to N patients fail (failures are always written: errors report, "
                     "store errors table); more make the exit status 3.")
@data_root_option(note="With --manifest:")
@click.option("--trust", "trust", multiple=True, type=click.Path(exists=True), metavar="KEY.pub|DIR",
              help="Public key (or folder of *.pub) whose bundles are accepted (repeatable; also "
                   "$ALNM_RAY_TRUSTED_KEYS, os.pathsep-separated).")
@click.option("--trust-unsigned", is_flag=True,
              help="Accept a bundle that is unsigned or signed by an unknown key (logged as a WARNING and "
                   "recorded next to the predictions). A signature that does not match is still refused.")
@pass_cli
def score(ctx: CliContext, bundle: str, manifests: tuple[str, ...], features: tuple[str, ...], store: str,
          out: str | None, cohorts: tuple[str, ...], weights: str | None, align: bool, batch_size: int,
          max_actors: int | None, n_boot: int, seed: int, no_store_write: bool, max_failures: int,
          data_root: str | None = None, trust: tuple[str, ...] = (), trust_unsigned: bool = False,
          explain_k: int = 0) -> None:
    """Score new patients with a frozen BUNDLE (from `alnm-ray train`, or a score_nomogram `alnm-ray run`).

    The bundle's Ed25519 signature is checked against the trusted keys
    (--trust, $ALNM_RAY_TRUSTED_KEYS) before any other file of it is read,
    then every checksum before anything is parsed; unsigned bundles and
    unknown signers are refused unless --trust-unsigned.
    With --manifest the bundle's own preprocessing, PyRadiomics params and
    embedding config run on the images first (cases already in the store are
    reused); with --features the stored rows are scored directly. The new
    cohort's feature columns are checked against the bundle's by name, and
    each selected feature's distribution against the training summary (PSI,
    KS). Per-patient failures become error rows; patients in = predictions +
    errors. Labelled cohorts get an external-validation summary (AUC with CI,
    sensitivity, specificity, …), printed and saved next to --out.
    A score-nomogram bundle (the `bundle/` folder of a score_nomogram
    `alnm-ray run`, e.g. zhang2025) is verified the same way and scored with
    --features from the store's radiomics, deep and clinical tables: each
    ROI score, probability, Nomo-score and risk group per patient.

    \b
    Examples:
      alnm-ray score bundles/mlp --manifest ext1.csv --manifest ext2.csv --store store/ --out preds.parquet
      alnm-ray score bundles/mlp --features radiomics@1a2b3c --store store/ --cohort ext1
    """
    from alnm_ray.cli._errors import EXIT_CASE_FAILURES, UserError
    from alnm_ray.runtime import ray_session
    from alnm_ray.score.job import ScoreOptions, score_features, score_manifests
    from alnm_ray.score.report import drift_text, validation_text

    if bool(manifests) == bool(features):
        raise UserError("score: expected either --manifest (score images) or --features (score stored "
                        "features); got " + ("both" if manifests else "neither") + ". Pass one of them.")
    if weights and not manifests:
        raise UserError("--weights: only used with --manifest (features are embedded then); remove it.")
    from alnm_ray.score.bundle import check_signature
    from alnm_ray.score.signing import TrustPolicy

    policy = TrustPolicy.from_paths(trust, allow_unsigned=trust_unsigned)
    check_signature(bundle, trust=policy)  # refuse an untrusted bundle before reading anything else or starting Ray
    from alnm_ray.protocol.scores_run import is_score_bundle, score_bundle_command

    if is_score_bundle(bundle):  # the model document of a score_nomogram run (`alnm-ray run`): verified the same way
        for line in score_bundle_command(bundle, manifests=manifests, features=features, store=store, out=out,
                                         cohorts=cohorts, trust=policy):
            click.echo(line)
        return
    if manifests:
        from alnm_ray.cli._redact import register_identifiers
        from alnm_ray.manifest.table import read_table
        from alnm_ray.store import FeatureStore

        for path in manifests:  # kept out of logs above DEBUG (unless --log-identifiers)
            from alnm_ray.manifest import read_manifest

            ids = read_table(path, kind="manifest")
            register_identifiers(ids["patient_id"].dropna().astype(str) if "patient_id" in ids.columns else [])
            read_manifest(path, check_files=False, data_root=data_root)  # schema, ids, paths: before any work
        FeatureStore(store).check_writable()  # features are extracted into it: fail now, not afterwards
    options = ScoreOptions(batch_size=batch_size, max_actors=max_actors, align=align, cohorts=cohorts,
                           n_boot=n_boot, seed=seed, write_store=not no_store_write, quiet=ctx.quiet,
                           explain=explain_k, ray_config=ctx.ray_config())
    if manifests:
        with ray_session(ctx.ray_config()):
            result = score_manifests(bundle, store, manifests, out=out, weights=weights, options=options,
                                     quiet=ctx.quiet, debug=ctx.debug, trust=policy)
    else:  # Ray starts only for runs too large to score in-process (alnm_ray.score._execution.LOCAL_MAX_ROWS)
        result = score_features(bundle, store, features, out=out, options=options, trust=policy)
    if result.signature.get("verified"):
        click.echo(f"bundle {result.bundle_id}: signed by {result.signature['signer'][:16]} "
                   f"(trusted key {result.signature['key_source']})")
    else:
        click.echo(f"WARNING: bundle {result.bundle_id} is NOT VERIFIED ({result.signature.get('status')}); "
                   "scored because of --trust-unsigned (recorded in the bundle-trust report)", err=True)
    click.echo(f"bundle {result.bundle_id}: {result.rows_in} patient(s) in = {result.n_predictions} "
               f"prediction(s) + {len(result.errors)} error(s) -> {result.out}"
               + (f" (store predictions@{result.version[:12]})" if result.version else ""))
    if result.validation:
        click.echo(validation_text(result.validation))
    click.echo(drift_text(result.drift))
    click.echo("reports: " + ", ".join(result.reports))
    if len(result.errors):
        for row in result.errors.head(5).itertuples(index=False):
            click.echo(f"  failed {row.cohort}/{row.patient_id} [{row.stage}] {row.error_type}: {row.message}",
                       err=True)
        if len(result.errors) > max_failures:
            click.echo(f"{len(result.errors)} patient(s) failed, more than --max-failures {max_failures}; "
                       "see the errors report and the store's errors table.", err=True)
            raise click.exceptions.Exit(EXIT_CASE_FAILURES)
