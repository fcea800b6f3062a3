"""Running a job spec through the alnm-ray CLI: one code path for laptop and cluster.

A job entrypoint turns its spec into exactly the command line a user would
type (``alnm-ray [--address A] extract MANIFEST --store S …``) and runs the
click group in-process with ``standalone_mode=False``.  The CLI command then
does what it always does — validate its inputs, start or connect to Ray
(``--address`` or ``RAY_ADDRESS``, which ``ray job submit`` sets), call the
library — so a job on a cluster and a command on a laptop cannot drift apart.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from _spec import JobSpec, JobSpecError, load_spec

#: Exit status for a spec that does not validate (the CLI's EXIT_USER_ERROR).
EXIT_BAD_SPEC = 2


def get_command(name: str) -> click.Command:
    """The click command ``alnm-ray NAME``.

    Raises:
        JobSpecError: The command is not part of this alnm-ray install.
    """
    from alnm_ray.cli.main import cli

    command = cli.get_command(click.Context(cli), name)
    if command is None:
        known = ", ".join(sorted(cli.list_commands(click.Context(cli))))
        raise JobSpecError(f"job {name}", [
            f"command: expected `alnm-ray {name}` to exist; this install has only: {known}. "
            "Update alnm-ray (the job entrypoints and the CLI ship together)."
        ])
    return command


def build_argv(spec: JobSpec, command: click.Command | None = None) -> list[str]:
    """The ``alnm-ray`` argument list equivalent to ``spec``.

    Args:
        spec: A validated job spec.
        command: The click command (looked up from the spec when ``None``).

    Returns:
        Arguments for the ``alnm-ray`` group: global options, the command name,
        its options (``--name=value``), then ``--`` and its positional arguments.

    Raises:
        JobSpecError: An argument has no matching parameter, or a flag cannot
            be expressed (e.g. ``false`` for a flag without a ``--no-`` form).
    """
    command = command or get_command(spec.command)
    argv: list[str] = []
    if spec.ray_address:
        argv += ["--address", spec.ray_address]
    if spec.num_cpus:
        argv += ["--num-cpus", str(spec.num_cpus)]
    if spec.log_level:
        argv += ["--log-level", spec.log_level]
    if spec.quiet:
        argv.append("--quiet")
    if spec.debug:
        argv.append("--debug")
    argv.append(command.name or spec.command)
    options, positionals = _command_args(spec, command, spec.args)
    argv += options
    if positionals:
        argv += ["--", *positionals]
    return argv


def spec_key(param: click.Parameter) -> str:
    """The spec key of a click parameter: its long option without dashes, or the argument name.

    ``--weights-file`` -> ``weights_file``; ``--config`` (stored as ``config_path``)
    -> ``config``; the argument ``MANIFEST`` -> ``manifest``.

    Example:
        >>> spec_key(click.Option(["--margin-mm"]))
        'margin_mm'
    """
    if isinstance(param, click.Option):
        return max(param.opts, key=len).lstrip("-").replace("-", "_")
    return str(param.name)


def spec_params(command: click.Command) -> dict[str, click.Parameter]:
    """The command's parameters by spec key (help and hidden options left out)."""
    return {spec_key(p): p for p in command.params
            if p.name and p.expose_value and not getattr(p, "hidden", False)}


def _command_args(spec: JobSpec, command: click.Command,
                  args: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    params = spec_params(command)
    problems = [f"args.{k}: expected a parameter of `alnm-ray {command.name}` "
                f"({', '.join(sorted(params))}); got {k!r}. Remove it or update the schema."
                for k in args if k not in params]
    options: list[str] = []
    positionals: list[str] = []
    for key, param in params.items():  # declaration order keeps positionals in place
        if key not in args or args[key] is None:
            continue
        value = args[key]
        if isinstance(param, click.Argument):
            positionals += [_text(v) for v in value] if isinstance(value, list) else [_text(value)]
            continue
        assert isinstance(param, click.Option)
        long = max(param.opts, key=len)
        if param.is_flag and param.is_bool_flag:
            if value:
                options.append(long)
            elif param.secondary_opts:
                options.append(max(param.secondary_opts, key=len))
            elif param.default:
                problems.append(f"args.{key}: expected true (the flag {long} has no "
                                f"off switch); got false. Remove the key to keep the default.")
            continue
        if isinstance(value, list) and not param.multiple and param.nargs == 1:
            value = ",".join(_text(v) for v in value)  # a list option such as --classifiers lr,mlp
        items = value if (param.multiple and isinstance(value, list)) else [value]
        for item in items:
            if isinstance(item, list):  # nargs > 1
                options += [long, *(_text(v) for v in item)]
            else:
                options.append(f"{long}={_text(item)}")
    if problems:
        raise JobSpecError(spec.source, problems)
    return options, positionals


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_job(job: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/<job>.py``: validate the spec, run the command.

    Args:
        job: The job this entrypoint runs.
        argv: Command-line arguments (default ``sys.argv[1:]``): the spec path,
            optionally ``--check`` (validate and print the command, run nothing).

    Returns:
        The process exit status: 0 on success, the CLI's status otherwise
        (2 for a bad spec or input, 3 when cases failed).
    """
    parser = argparse.ArgumentParser(
        prog=f"jobs/{job}.py",
        description=f"Run `alnm-ray {job}` from a YAML job spec (schemas/jobspec.schema.json). "
                    "Ray: --address in the spec, else RAY_ADDRESS (set by `ray job submit`), "
                    "else an embedded local Ray.")
    parser.add_argument("spec", help="the YAML job spec")
    parser.add_argument("--check", action="store_true",
                        help="validate the spec and print the equivalent alnm-ray command; run nothing")
    ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        spec = load_spec(ns.spec, job=job)
        cli_argv = build_argv(spec)
    except JobSpecError as err:
        click.echo(f"Error: {err}", err=True)
        return EXIT_BAD_SPEC
    if ns.check:
        click.echo(shlex.join(["alnm-ray", *cli_argv]))
        return 0
    from alnm_ray.cli.main import cli

    try:
        result = cli.main(args=cli_argv, prog_name="alnm-ray", standalone_mode=False)
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    # With standalone_mode=False, click returns ctx.exit(code)'s code instead of exiting.
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
