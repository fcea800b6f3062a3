"""``alnm-ray tune``: repeated-CV sweep over feature sets x classifiers on Ray Tune."""

from __future__ import annotations

import json

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.sql import STORE_ENVVAR


def _csv_list(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in str(value).split(",") if v.strip())
    if not items:
        raise click.BadParameter(f"expected a comma-separated list (or 'all'); got {value!r}.")
    return items


def _pins(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        table, sep, version = value.partition("@")
        if not sep or not table or not version:
            raise click.BadParameter(f"expected TABLE@VERSION (e.g. radiomics@1a2b3c4d); got {value!r}.")
        out[table] = version
    return out


@click.command("tune")
@click.option("--store", required=True, envvar=STORE_ENVVAR, metavar="STORE",
              help=f"Feature store (folder or URI; also ${STORE_ENVVAR}).")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="RUN",
              help="Run folder (created; an interrupted sweep in it is resumed).")
@click.option("--preset", default="guo2024", show_default=True, metavar="NAME",
              help="Selection preset: guo2024, liu2025, gu2025, zhang2025.")
@click.option("--selection", "selection_yaml", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Selection config YAML ({preset: …, field: value…}); wins over --preset.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True, help="CV repeats.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="CV folds.")
@click.option("--classifiers", default="all", show_default=True, callback=_csv_list, metavar="LIST",
              help="Comma-separated: lr,nb,svm,knn,xgboost,lightgbm,adaboost,mlp, or 'all'.")
@click.option("--feature-sets", default="all", show_default=True, callback=_csv_list, metavar="LIST",
              help="Comma-separated: radiomics, deep, combined, clinical, clinical+radiomics, any store "
                   "table, post:clinical+radiomics+deep (post-fusion), or 'all'.")
@click.option("--search", type=click.Choice(["grid", "random"]), default="grid", show_default=True,
              help="grid: classifier defaults; random: nested random search of each classifier's space.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Candidates of --search random (default 10).")
@click.option("--inner-folds", type=click.IntRange(min=2), default=3, show_default=True,
              help="Inner CV folds ranking the --search candidates (training rows only).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of splits, selection, classifiers and the search.")
@click.option("--table", "tables", multiple=True, callback=_pins, metavar="TABLE@VERSION",
              help="Pin a table version (repeatable; default the latest).")
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), default=None, metavar="CSV",
              help="Clinical table (one row per patient); stored as a new 'clinical' version. Default: "
                   "the store's clinical table, if any.")
@click.option("--cohort", "cohorts", multiple=True, help="Model these cohorts only (repeatable).")
@click.option("--join", type=click.Choice(["strict", "inner"]), default="strict", show_default=True,
              help="Patients missing from some feature set: an error (strict) or dropped (inner).")
@click.option("--holdout/--no-holdout", default=True, show_default=True,
              help="The paper's hold-out: the tables' split column, else a seeded stratified 7:3 split.")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.3,
              show_default=True, help="Test fraction of a random hold-out split.")
@click.option("--external/--no-external", default=None,
              help="Leave-one-centre-out validation (default: on when there are >= 2 centres).")
@click.option("--cv-on", type=click.Choice(["train", "all"]), default="train", show_default=True,
              help="CV patients: the hold-out training patients (the test set stays untouched) or all.")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="CV repeats per Tune trial (default: about 4 trials per CPU).")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None,
              help="Concurrent trials (default: the cluster's CPUs).")
@click.option("--max-trials", type=click.IntRange(min=0), default=None,
              help="Run at most N trials now; re-run the same command to finish.")
@click.option("--n-boot", type=click.IntRange(min=10), default=200, show_default=True,
              help="Bootstrap replicates of holdout_metrics.json.")
@click.option("--overwrite", is_flag=True, help="Discard a run folder that holds another sweep.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON instead of a table.")
@pass_cli
def tune(ctx: CliContext, store: str, out: str, preset: str, selection_yaml: str | None, repeats: int,
         folds: int, classifiers: tuple[str, ...], feature_sets: tuple[str, ...], search: str,
         samples: int | None, inner_folds: int, seed: int, tables: dict[str, str], clinical: str | None,
         cohorts: tuple[str, ...], join: str, holdout: bool, test_size: float, external: bool | None,
         cv_on: str, chunk: int | None, max_concurrent: int | None, max_trials: int | None,
         n_boot: int, overwrite: bool, as_json: bool) -> None:
    """Sweep feature sets x classifiers with repeated stratified K-fold CV on Ray Tune.

    Each Tune trial runs a chunk of repeats of one feature-set group for every
    classifier, fitting each fold's selection (ICC, SMOTE, z-score,
    univariate, Spearman, mRMR, LASSO for guo2024) once on the training rows
    and sharing it.  Also runs the hold-out protocol (select and train on the
    training split, test once) and leave-one-centre-out validation.  Writes the
    run folder (run.json, cv_results.parquet, summary.csv, … read by
    `alnm-ray report` and `alnm-ray train --run`) and the store tables
    cv_results and oof_predictions (query them with `alnm-ray sql`).  Re-running
    the same command resumes an interrupted sweep, computing only missing units.

    \b
    Examples:
      alnm-ray tune --store store/ --out runs/guo
      alnm-ray tune --store store/ --feature-sets radiomics,combined --classifiers lr,mlp --repeats 5 --out runs/q
      alnm-ray tune --store store/ --search random --samples 20 --feature-sets combined --out runs/s
    """
    from alnm_ray.cli._errors import UserError

    if samples is not None and search != "random":
        raise UserError("--samples: only used by --search random; got --search grid. Add --search random "
                        "or drop --samples.")
    from alnm_ray.cli._logging import add_run_log
    from alnm_ray.model.classifiers import CLASSIFIER_NAMES
    from alnm_ray.runtime import ray_session
    from alnm_ray.select.config import SelectionConfig
    from alnm_ray.tune import TuneRunConfig, format_summary, load_inputs, run_sweep
    from alnm_ray.tune.sweep import check_run_dir

    selection = {}
    if selection_yaml:
        with open(selection_yaml, encoding="utf-8") as fh:
            selection = SelectionConfig.from_yaml(fh.read()).to_dict()
    cfg = TuneRunConfig(
        store=store, preset=preset if not selection else selection.get("name", preset),
        selection=selection, classifiers=CLASSIFIER_NAMES if classifiers == ("all",) else classifiers,
        feature_sets=feature_sets, repeats=repeats, folds=folds, seed=seed,
        tables=tuple(tables.items()), clinical=clinical, cohorts=cohorts, join=join, holdout=holdout,
        test_size=test_size, external=external, cv_on=cv_on, search=search, samples=samples or 10,
        inner_folds=inner_folds, n_boot=n_boot, chunk=chunk, max_concurrent=max_concurrent,
        max_trials=max_trials, quiet=ctx.quiet)
    inputs = load_inputs(store, cfg)  # fails fast on bad input, before Ray starts
    if not ctx.quiet:
        click.echo(f"tune: {len(inputs.y)} patients ({int(inputs.y.sum())} ALNM+), feature sets "
                   f"{', '.join(inputs.feature_sets)}; {len(cfg.classifiers)} classifier(s); "
                   f"{repeats} x {folds}-fold CV", err=True)
    check_run_dir(out, cfg.run_hash(inputs.table_versions), overwrite)  # before Ray starts, too
    add_run_log(out)
    try:
        with ray_session(ctx.ray_config()):
            result = run_sweep(cfg, out, overwrite=overwrite, inputs=inputs)
    except KeyboardInterrupt:
        from alnm_ray.cli._errors import Interrupted

        raise Interrupted(f"tune: interrupted — re-run the same command to resume; units already "
                          f"finished are kept in {out} and not recomputed.") from None
    if result.complete:  # feature dictionary (clinical too) + CLEAR/TRIPOD+AI checklists in the run folder
        from alnm_ray.standards.checklist import finish_run

        finish_run(store, result.run_dir)
    outcome = {"run": str(result.run_dir), "run_id": result.run_id, "units": len(result.units),
               "computed": result.computed, "reused": result.reused, "complete": result.complete,
               "wall_seconds": round(result.wall_seconds, 2), "tune_seconds": round(result.tune_seconds, 2),
               "store_versions": result.outputs.get("store", {})}
    if as_json:
        if result.summary is not None:
            outcome["summary"] = json.loads(result.summary.to_json(orient="records"))
        click.echo(json.dumps(outcome, indent=1))
        return
    click.echo(f"tune: {len(result.units)} units ({result.computed} computed, {result.reused} reused) in "
               f"{result.wall_seconds:.1f} s; run {result.run_id[:12]}")
    if not result.complete:
        click.echo(f"partial: {result.computed + result.reused} of {len(result.units)} units done; re-run "
                   "the same command to finish the sweep.")
        return
    click.echo(format_summary(result.summary))
    click.echo(f"wrote {result.run_dir}/ (summary.csv, cv_results.parquet, run.json …) and store tables "
               f"cv_results@{result.run_id[:12]}, oof_predictions@{result.run_id[:12]}")
