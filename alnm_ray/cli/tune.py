"""``alnm-ray tune``: repeated-CV sweep over feature sets x classifiers on Ray Tune."""

from __future__ import annotations

import json

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import (
    CLASSIFIERS,
    RegistryChoice,
    cohorts_option,
    comma_list,
    default_of,
    json_flag,
    n_boot_option,
    overwrite_option,
    registry_list,
    seed_option,
    selection_options,
    store_option,
    table_pins_option,
)

#: The configuration every default of `tune` comes from.
_CONFIG = "alnm_ray.tune.config:TuneRunConfig"


#: Parameter name -> the flag as typed, for the flags a protocol decides.
_FLAGS = {"preset": "--preset", "selection_yaml": "--selection", "repeats": "--repeats", "folds": "--folds",
          "seed": "--seed", "classifiers": "--classifiers", "feature_sets": "--feature-sets", "search": "--search",
          "samples": "--samples", "inner_folds": "--inner-folds", "holdout": "--holdout/--no-holdout",
          "test_size": "--test-size", "external": "--external/--no-external", "cv_on": "--cv-on"}


def _given(names: dict[str, str], values: dict) -> dict[str, object]:
    """Flags the user typed (not defaults), with their values."""
    ctx = click.get_current_context()
    out = {}
    for name, flag in names.items():
        if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None):
            value = values[name]
            out[flag] = ",".join(value) if isinstance(value, tuple) else value
    return out


@click.command("tune")
@store_option()
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="RUN",
              help="Run folder (created; an interrupted sweep in it is resumed).")
@click.option("--protocol", "protocol_spec", default=None, metavar="NAME|FILE",
              help="A study protocol (shipped name or YAML file): its selection per kind, classifiers and "
                   "their parameters, feature sets, CV design and seed, CV on its training split only (the "
                   "sweep of `alnm-ray run`). Flags that would change those are refused.")
@selection_options(preset_default=default_of(_CONFIG, "preset"))
@click.option("--repeats", type=click.IntRange(min=1), default=default_of(_CONFIG, "repeats"), show_default=True,
              help="CV repeats.")
@click.option("--folds", type=click.IntRange(min=2), default=default_of(_CONFIG, "folds"), show_default=True,
              help="CV folds.")
@click.option("--classifiers", default="all", show_default=True, callback=registry_list(CLASSIFIERS, "classifier"),
              metavar="LIST", help="Comma-separated classifier names, or 'all'; a wrong name lists them.")
@click.option("--feature-sets", default="all", show_default=True, callback=comma_list, metavar="LIST",
              help="Comma-separated: radiomics, deep, combined, clinical, clinical+radiomics, any store "
                   "table, post:clinical+radiomics+deep (post-fusion), or 'all'.")
@click.option("--search", type=RegistryChoice("alnm_ray.tune.config:SEARCHES", "search"),
              default=default_of(_CONFIG, "search"), show_default=True,
              help="grid: classifier defaults; random: nested random search of each classifier's space.")
@click.option("--samples", type=click.IntRange(min=1), default=default_of(_CONFIG, "samples"), show_default=True,
              help="Candidates of --search random.")
@click.option("--inner-folds", type=click.IntRange(min=2), default=default_of(_CONFIG, "inner_folds"),
              show_default=True, help="Inner CV folds ranking the --search candidates (training rows only).")
@seed_option(default_of(_CONFIG, "seed"), help="Seed of splits, selection, classifiers and the search.")
@table_pins_option("Pin a table version (repeatable; default the latest).")
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), default=None, metavar="CSV",
              help="Clinical table (one row per patient); stored as a new 'clinical' version. Default: "
                   "the store's clinical table, if any.")
@cohorts_option("Model these cohorts only (repeatable).")
@click.option("--join", type=RegistryChoice("alnm_ray.tune.config:JOINS", "join"),
              default=default_of(_CONFIG, "join"), show_default=True,
              help="Patients missing from some feature set: an error (strict) or dropped (inner).")
@click.option("--holdout/--no-holdout", default=True, show_default=True,
              help="The paper's hold-out: the tables' split column, else a seeded stratified 7:3 split.")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=default_of(_CONFIG, "test_size"), show_default=True,
              help="Test fraction of a random hold-out split.")
@click.option("--external/--no-external", default=None,
              help="Leave-one-centre-out validation (default: on when there are >= 2 centres).")
@click.option("--cv-on", type=RegistryChoice("alnm_ray.tune.config:CV_ON", "CV set"),
              default=default_of(_CONFIG, "cv_on"), show_default=True,
              help="CV patients: the hold-out training patients (the test set stays untouched) or all.")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="CV repeats per Tune trial (default: about 4 trials per CPU, splitting each "
                   "repeat's folds when there are fewer repeats than that).")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None,
              help="Concurrent trials (default: the cluster's CPUs).")
@click.option("--max-trials", type=click.IntRange(min=0), default=None,
              help="Run at most N trials now; re-run the same command to finish.")
@n_boot_option(default_of(_CONFIG, "n_boot"), minimum=10, help="Bootstrap replicates of holdout_metrics.json.")
@overwrite_option("Discard a run folder that holds another sweep.")
@click.option("--mlflow-uri", default=None, envvar="MLFLOW_TRACKING_URI", metavar="URI",
              help="Log the finished run to MLflow (needs alnm-ray[mlflow]; also $MLFLOW_TRACKING_URI).")
@json_flag("Print the outcome as JSON instead of a table.")
@pass_cli
def tune(ctx: CliContext, store: str, out: str, preset: str, selection_yaml: str | None, repeats: int,
         folds: int, classifiers: tuple[str, ...], feature_sets: tuple[str, ...], search: str,
         samples: int, inner_folds: int, seed: int, tables: dict[str, str], clinical: str | None,
         cohorts: tuple[str, ...], join: str, holdout: bool, test_size: float, external: bool | None,
         cv_on: str, chunk: int | None, max_concurrent: int | None, max_trials: int | None,
         n_boot: int, overwrite: bool, as_json: bool, mlflow_uri: str | None = None,
         protocol_spec: str | None = None) -> None:
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
      alnm-ray tune --store store/ --protocol guo2024 --out runs/guo-protocol
    """
    from alnm_ray.cli._errors import UserError

    protocol = None
    if protocol_spec is not None:
        from alnm_ray.protocol import load_protocol
        from alnm_ray.protocol.stages import TUNE_OWNED, flag_conflicts

        protocol = load_protocol(protocol_spec)
        conflicts = flag_conflicts(protocol, _given(_FLAGS, dict(locals())), TUNE_OWNED, "tune")
        if conflicts:
            raise UserError(f"tune --protocol {protocol.name}: {len(conflicts)} flag(s) the protocol decides:\n"
                            + "\n".join(f"  - {c}" for c in conflicts))

    given = click.get_current_context().get_parameter_source("samples") != click.core.ParameterSource.DEFAULT
    if given and search != "random":
        raise UserError("--samples: only used by --search random; got --search grid. Add --search random "
                        "or drop --samples.")
    from alnm_ray.select.config import SelectionConfig
    from alnm_ray.tune import TuneRunConfig, load_inputs

    if protocol is not None:
        return _tune_protocol(ctx, protocol, store=store, out=out, tables=tables, clinical=clinical,
                              cohorts=cohorts, join=join, n_boot=n_boot, chunk=chunk,
                              max_concurrent=max_concurrent, max_trials=max_trials, overwrite=overwrite,
                              as_json=as_json, mlflow_uri=mlflow_uri)
    selection = {}
    if selection_yaml:
        with open(selection_yaml, encoding="utf-8") as fh:
            selection = SelectionConfig.from_yaml(fh.read()).to_dict()
    cfg = TuneRunConfig(
        store=store, preset=preset if not selection else selection.get("name", preset),
        selection=selection, classifiers=classifiers,
        feature_sets=feature_sets, repeats=repeats, folds=folds, seed=seed,
        tables=tuple(tables.items()), clinical=clinical, cohorts=cohorts, join=join, holdout=holdout,
        test_size=test_size, external=external, cv_on=cv_on, search=search, samples=samples,
        inner_folds=inner_folds, n_boot=n_boot, chunk=chunk, max_concurrent=max_concurrent,
        max_trials=max_trials, quiet=ctx.quiet)
    inputs = load_inputs(store, cfg)  # fails fast on bad input, before Ray starts
    _sweep(ctx, cfg, inputs, store=store, out=out, overwrite=overwrite, as_json=as_json, mlflow_uri=mlflow_uri)


def _tune_protocol(ctx: CliContext, protocol, *, store: str, out: str, tables: dict[str, str],
                   clinical: str | None, cohorts: tuple[str, ...], join: str, n_boot: int, chunk: int | None,
                   max_concurrent: int | None, max_trials: int | None, overwrite: bool, as_json: bool,
                   mlflow_uri: str | None) -> None:
    from alnm_ray.protocol.check import component_problems, consistency_problems
    from alnm_ray.protocol.load import ProtocolError
    from alnm_ray.protocol.runner import training_inputs
    from alnm_ray.protocol.stages import protocol_tune_config
    from alnm_ray.tune import load_inputs

    problems = component_problems(protocol) + consistency_problems(protocol)
    if problems:
        raise ProtocolError(f"protocol {protocol.name}: {len(problems)} problem(s) before any work:\n"
                            + "\n".join(f"  - {q}" for q in problems), problems)
    cfg = protocol_tune_config(protocol, store, tables=tuple(tables.items()), clinical=clinical, cohorts=cohorts,
                               join=join, n_boot=n_boot, chunk=chunk, max_concurrent=max_concurrent,
                               max_trials=max_trials, quiet=ctx.quiet)
    inputs = training_inputs(protocol, load_inputs(store, cfg))  # the CV never sees another set
    if not ctx.quiet:
        click.echo(f"tune: protocol {protocol.name} v{protocol.version} ({protocol.hash[:12]}), CV on its "
                   f"training split {protocol.training_split!r}", err=True)
    _sweep(ctx, cfg, inputs, store=store, out=out, overwrite=overwrite, as_json=as_json, mlflow_uri=mlflow_uri)


def _sweep(ctx: CliContext, cfg, inputs, *, store: str, out: str, overwrite: bool, as_json: bool,
           mlflow_uri: str | None) -> None:
    from alnm_ray.cli._logging import add_run_log
    from alnm_ray.runtime import ray_session
    from alnm_ray.tune import format_summary, run_sweep
    from alnm_ray.tune.sweep import check_run_dir

    repeats, folds = cfg.repeats, cfg.folds
    if not ctx.quiet:
        click.echo(f"tune: {len(inputs.y)} patients ({int(inputs.y.sum())} ALNM+), feature sets "
                   f"{', '.join(inputs.feature_sets)}; {len(cfg.classifiers)} classifier(s); "
                   f"{repeats} x {folds}-fold CV", err=True)
    check_run_dir(out, cfg.run_hash(inputs.table_versions), overwrite)  # before Ray starts, too
    if mlflow_uri:  # a tracking store MLflow refuses fails now, not after the sweep
        from alnm_ray.tracking import check_uri

        check_uri(mlflow_uri)
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
        if mlflow_uri:  # parameters, metrics per set x classifier, summary and checklists (alnm_ray.tracking)
            from alnm_ray.tracking import log_tune_run

            log_tune_run(mlflow_uri, result.run_dir)
    outcome = {"run": str(result.run_dir), "run_id": result.run_id, "units": len(result.units),
               "computed": result.computed, "reused": result.reused, "complete": result.complete,
               "wall_seconds": round(result.wall_seconds, 2), "tune_seconds": round(result.tune_seconds, 2),
               "store_versions": result.outputs.get("store", {}), "protocol": cfg.protocol or None}
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
