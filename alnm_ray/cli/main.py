"""The ``alnm-ray`` click group.

Subcommands live one per module in this folder and are imported only when
used (or listed), so ``alnm-ray --help`` stays fast; every command module
imports nothing heavier than click at module level.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from alnm_ray._version import __version__
from alnm_ray.cli._context import CliContext
from alnm_ray.cli._errors import run_guarded
from alnm_ray.cli.options import quiet_option

#: name -> "module:attribute" of every subcommand, in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "synth": "alnm_ray.cli.synth:synth",
    "validate": "alnm_ray.cli.validate:validate",
    "report": "alnm_ray.cli.report:report",
    "extract": "alnm_ray.cli.extract:extract",
    "embed": "alnm_ray.cli.embed:embed",
    "compare": "alnm_ray.cli.compare:compare",
    "sql": "alnm_ray.cli.sql:sql",
    "features": "alnm_ray.cli.features:features",
    "keys": "alnm_ray.cli.keys:keys",
    "train": "alnm_ray.cli.train:train",
    "score": "alnm_ray.cli.score:score",
    "explain": "alnm_ray.cli.explain:explain",
    "bundle": "alnm_ray.cli.bundle:bundle",
    "tune": "alnm_ray.cli.tune:tune",
    "ibsi": "alnm_ray.cli.ibsi:ibsi",
    "protocol": "alnm_ray.cli.protocol:protocol",
    "run": "alnm_ray.cli.run:run",
}


class LazyGroup(click.Group):
    """A group that imports each subcommand's module on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy) + [c for c in super().list_commands(ctx) if c not in self.lazy]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        return run_guarded(lambda: super(LazyGroup, self).invoke(ctx), debug=debug)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="alnm-ray")
@click.option("--address", envvar="RAY_ADDRESS", default=None, metavar="ADDR",
              help="Ray cluster to connect to (also RAY_ADDRESS). Default: start an embedded local Ray.")
@click.option("--num-cpus", type=click.IntRange(min=1), default=None,
              help="CPUs for the embedded local Ray (default: all). Ignored with --address.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True, help="Console log level.")
@click.option("--log-json", is_flag=True, help="Write console logs as JSON lines.")
@click.option("--log-identifiers", is_flag=True,
              help="Show image paths and patient identifiers in console logs (redacted by default).")
@quiet_option()
@click.option("--debug", is_flag=True, help="Re-raise errors with their full traceback.")
@click.pass_context
def cli(ctx: click.Context, address: str | None, num_cpus: int | None, log_level: str,
        log_json: bool, log_identifiers: bool, quiet: bool, debug: bool) -> None:
    """alnm-ray: radiomics feature store and batch scoring on Ray.

    Predicts axillary lymph node metastasis from mammography and MRI:
    synthesise or validate a cohort, extract features into a versioned
    store, query it with SQL, sweep classifiers with repeated CV, report,
    and score new cohorts with a frozen model.
    """
    from alnm_ray.cli._logging import configure_logging

    level = "WARNING" if quiet and log_level.upper() == "INFO" else log_level.upper()
    configure_logging(level, json_lines=log_json, identifiers=log_identifiers)
    ctx.obj = CliContext(address=address, num_cpus=num_cpus, quiet=quiet, debug=debug)


def main() -> None:  # pragma: no cover - console entry point
    cli(prog_name="alnm-ray")
    sys.exit(0)
