"""``alnm-ray run``: a whole study from a protocol, end to end and resumable."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.sql import STORE_ENVVAR


@click.command("run")
@click.argument("spec", metavar="PROTOCOL")
@click.option("--manifest", "manifests", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False), help="Manifest (repeatable; concatenated).")
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Clinical table (one row per patient) for the clinical models.")
@click.option("--store", required=True, envvar=STORE_ENVVAR, metavar="STORE",
              help=f"Feature store (folder or URI; also ${STORE_ENVVAR}).")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="RUN",
              help="Run folder (created; an interrupted run in it is resumed).")
@click.option("--quick", is_flag=True,
              help="Smoke-test design: at most 2 x 3-fold CV, one LASSO repeat of at most 3 folds, 3 inner "
                   "folds; recorded as deviations in the run and the report.")
@click.option("--signing-key", type=click.Path(dir_okay=False), default=None, metavar="NAME.key",
              help="Ed25519 key that signs the final bundle (also $ALNM_RAY_SIGNING_KEY).")
@click.option("--unsigned", is_flag=True, help="Write an unsigned final bundle (not for sharing).")
@click.option("--overwrite", is_flag=True, help="Start over in a run folder that holds another run.")
@pass_cli
def run(ctx: CliContext, spec: str, manifests: tuple[str, ...], clinical: str | None, store: str, out: str,
        quick: bool, signing_key: str | None, unsigned: bool, overwrite: bool) -> None:
    """Run a whole study from PROTOCOL (a shipped name or a YAML file).

    Stages: validate (every problem of the protocol, manifests and clinical
    table listed before any work) -> extract -> embed -> repeated-CV sweep on
    the training set -> fit on the training set and evaluate every set of the
    validation design -> freeze the final model as a signed bundle (post-fusion
    included) -> report following the paper (RUN/report.html). RUN/stages.json
    records finished stages: re-running the same command finishes what is
    missing.

    \b
    Examples:
      alnm-ray run guo2024 --manifest cohort/manifest.csv --store store/ --out runs/guo
      alnm-ray run my_liu.yaml --manifest m.csv --clinical c.csv --store s/ --out runs/liu --quick
    """
    from alnm_ray.cli._errors import Interrupted, UserError
    from alnm_ray.protocol import ProtocolError, load_protocol
    from alnm_ray.protocol.runner import RunOptions, run_protocol, run_summary
    from alnm_ray.runtime import ray_session

    try:
        protocol = load_protocol(spec)
    except ProtocolError as exc:
        raise UserError(str(exc)) from exc
    opts = RunOptions(manifests=manifests, store=store, out=out, clinical=clinical, quick=quick,
                      signing_key=signing_key, unsigned=unsigned, overwrite=overwrite, quiet=ctx.quiet)
    from alnm_ray.cli._logging import add_run_log

    try:
        with ray_session(ctx.ray_config()):
            add_run_log(out)
            result = run_protocol(protocol, opts)
    except ProtocolError as exc:
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        raise Interrupted(f"run: interrupted — re-run the same command to resume; finished stages are kept "
                          f"in {out}/stages.json.") from None
    click.echo(run_summary(protocol, result))
