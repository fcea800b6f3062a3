"""``alnm-ray explain``: per-patient SHAP contributions of a frozen bundle, and a report."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.sql import STORE_ENVVAR


@click.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option("--features", "features", multiple=True, metavar="TABLE[@VERSION]",
              help="Explain stored features (repeatable, one per table the bundle uses; others: latest).")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="NEW.csv", help="Explain new images: the bundle's own extraction runs first (as `score`).")
@click.option("--store", required=True, envvar=STORE_ENVVAR, metavar="STORE",
              help=f"Feature store (folder or URI; also ${STORE_ENVVAR}).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Output folder: contributions.parquet and explain.html.")
@click.option("--patient", "patients", multiple=True, metavar="ID",
              help="Patient given a waterfall plot (repeatable; default the first 3).")
@click.option("--cohort", "cohorts", multiple=True, help="Explain only these cohorts (repeatable).")
@click.option("--max-evals", type=click.IntRange(min=3), default=500, show_default=True,
              help="Model evaluations per patient of the permutation explainer (nb, svm, knn, mlp, adaboost).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the permutation explainer and of permutation importance.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="PATH",
              help="Deep-model checkpoint the bundle was trained with (with --manifest).")
@click.option("--trust", "trust", multiple=True, type=click.Path(exists=True), metavar="KEY.pub|DIR",
              help="Public key (or folder of *.pub) whose bundles are accepted (also $ALNM_RAY_TRUSTED_KEYS).")
@click.option("--trust-unsigned", is_flag=True,
              help="Accept an unsigned bundle or an unknown signer (as `score --trust-unsigned`).")
@pass_cli
def explain(ctx: CliContext, bundle: str, features: tuple[str, ...], manifests: tuple[str, ...], store: str,
            out_dir: str, patients: tuple[str, ...], cohorts: tuple[str, ...], max_evals: int, seed: int,
            weights: str | None, trust: tuple[str, ...], trust_unsigned: bool) -> None:
    """Explain a frozen BUNDLE's predictions with SHAP.

    The bundle is verified exactly as `alnm-ray score` verifies it (signature,
    then every checksum, before anything is parsed). The explanations are of
    the classifier on the selected features (the selection pipeline's
    output), relative to the training rows stored in the bundle
    (`train --explain-background N`): LinearExplainer for lr/sgd (log-odds),
    TreeExplainer for xgboost/lightgbm (log-odds), PermutationExplainer
    otherwise (probability). Writes contributions.parquet (one row per
    patient) and explain.html (global importance, beeswarm, waterfalls of the
    chosen patients, permutation importance when the patients are labelled).

    \b
    Examples:
      alnm-ray explain bundles/lr --features radiomics --store store/ --out explain/ --patient P001
      alnm-ray explain bundles/mlp --manifest ext1.csv --store store/ --out explain-ext1/
    """
    from alnm_ray.cli._errors import UserError

    if bool(manifests) == bool(features):
        raise UserError("explain: expected either --manifest (explain images) or --features (explain stored "
                        "features); got " + ("both" if manifests else "neither") + ". Pass one of them.")
    from alnm_ray.score.bundle import check_signature
    from alnm_ray.score.explain_report import explain_features, explain_manifests
    from alnm_ray.score.signing import TrustPolicy

    policy = TrustPolicy.from_paths(trust, allow_unsigned=trust_unsigned)
    check_signature(bundle, trust=policy)  # refuse an untrusted bundle before anything else
    options = {"patients": patients, "cohorts": cohorts, "max_evals": max_evals, "seed": seed}
    if manifests:
        from alnm_ray.runtime import ray_session

        with ray_session(ctx.ray_config()):
            result = explain_manifests(bundle, store, manifests, out_dir, trust=policy, weights=weights,
                                       quiet=ctx.quiet, debug=ctx.debug, **options)
    else:
        result = explain_features(bundle, store, features, out_dir, trust=policy, **options)
    click.echo(f"bundle {result.bundle_id}: {result.patients} patient(s) explained ({result.explainer} explainer, "
               f"{result.scale}) in {result.seconds:.1f} s -> " + ", ".join(result.files))
