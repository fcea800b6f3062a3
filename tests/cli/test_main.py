"""The CLI group: help for every command, version, light imports, clean errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from alnm_ray import __version__
from alnm_ray.cli.main import COMMANDS, cli

HEAVY = ("ray", "torch", "radiomics", "SimpleITK", "pandas", "sklearn", "duckdb", "monai", "matplotlib")


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    for option in ("--address", "--num-cpus", "--log-level", "--quiet"):
        assert option in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_text(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None and command.help and len(command.help.split()) >= 5, \
        f"'{name}' needs a help text of at least a sentence"


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from alnm_ray.cli.main import cli, COMMANDS\n"
        "r = CliRunner()\n"
        "assert r.invoke(cli, ['--help']).exit_code == 0\n"
        "for n in COMMANDS: assert r.invoke(cli, [n, '--help']).exit_code == 0, n\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", check=True)
    assert out.stdout.strip() == "", f"--help imported heavy modules: {out.stdout.strip()}"


def test_missing_file_is_a_clean_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert "manifest not found" in result.output and "Traceback" not in result.output


def test_unknown_command_suggests() -> None:
    result = CliRunner().invoke(cli, ["valdate"])
    assert result.exit_code == 2 and "No such command" in result.output
