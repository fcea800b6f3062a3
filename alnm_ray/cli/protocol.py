"""``alnm-ray protocol``: list, show and check study protocols."""

from __future__ import annotations

import click

from alnm_ray.cli._context import CliContext, pass_cli


@click.group("protocol")
def protocol() -> None:
    """Study protocols: one versioned YAML file fixes a published study's whole method.

    \b
    Examples:
      alnm-ray protocol list
      alnm-ray protocol show liu2025 > my_study.yaml      # copy, edit, bump `version`
      alnm-ray protocol check my_study.yaml --manifest cohort/manifest.csv --clinical cohort/clinical.csv
    """


@protocol.command("list")
def list_() -> None:
    """List the shipped protocols (name, version, hash, title)."""
    from alnm_ray.protocol import SHIPPED, load_protocol

    for name in SHIPPED:
        p = load_protocol(name)
        click.echo(f"{p.name:<10} v{p.version}  {p.hash[:12]}  {p.title}")


@protocol.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a protocol's YAML (citations and assumptions included) to copy and edit."""
    from alnm_ray.protocol import load_protocol

    click.echo(load_protocol(name).text, nl=False)


@protocol.command("check")
@click.argument("spec", metavar="FILE|NAME")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Manifest(s) the protocol will run on (repeatable).")
@click.option("--clinical", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Clinical table (CSV/Parquet, one row per patient).")
@pass_cli
def check(ctx: CliContext, spec: str, manifests: tuple[str, ...], clinical: str | None) -> None:
    """Check a protocol (schema, components in this build) and, given data, whether it has what the
    protocol needs: sequences, the readers the ICC needs, split values, clinical variables.

    Every problem is listed at once; exit 2 when there is any.
    """
    from alnm_ray.cli._errors import UserError
    from alnm_ray.protocol import ProtocolError, load_protocol
    from alnm_ray.protocol.check import check_protocol, read_inputs

    try:
        p = load_protocol(spec)
    except ProtocolError as exc:
        raise UserError(str(exc)) from exc
    frames, table = read_inputs(manifests, clinical)
    problems = check_protocol(p, frames, table)
    if problems:
        shown = "\n".join(f"  - {line}" for line in problems)
        raise UserError(f"protocol {p.name} v{p.version}: {len(problems)} problem(s):\n{shown}")
    click.echo(f"protocol {p.name} v{p.version} ({p.hash[:12]}): ok"
               + (f" for {', '.join(manifests)}" if manifests else ""))
