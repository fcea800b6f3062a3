"""jobs/_cli.py: a spec becomes exactly the alnm-ray command line, and the schema matches the CLI."""

from __future__ import annotations

import click
import pytest

from alnm_ray.cli.main import COMMANDS


@click.command("demo")
@click.argument("inputs", nargs=-1)
@click.option("--store", required=True)
@click.option("--margin-mm", type=float, default=None)
@click.option("--tag", "tags", multiple=True)
@click.option("--shuffle/--no-shuffle", default=True)
@click.option("--strict", is_flag=True, default=False)
@click.option("--config", "config_path", default=None)
@click.option("--sets", default="all")
def demo(**kwargs):
    """A stand-in command with every parameter shape the jobs map."""
    return kwargs


def parse(argv: list[str]) -> dict:
    """What click makes of the part of ``argv`` after the command name."""
    ctx = demo.make_context("demo", argv[argv.index("demo") + 1:])
    return dict(ctx.params)


def spec(jobspec, **kwargs):
    return jobspec.JobSpec(job="extract", args=kwargs.pop("args"), **kwargs)


def test_arguments_round_trip_through_click(jobspec, jobcli):
    args = {"inputs": ["a.csv", "-odd.csv"], "store": "s3://b/s", "margin_mm": 2.5,
            "tag": ["x", "y"], "shuffle": False, "strict": True, "config": "c.yaml", "sets": ["a", "b"]}
    argv = jobcli.build_argv(spec(jobspec, args=args), demo)
    assert argv[0] == "demo" and "--" in argv  # positionals after "--", so "-odd.csv" is not an option
    assert parse(argv) == {"inputs": ("a.csv", "-odd.csv"), "store": "s3://b/s", "margin_mm": 2.5,
                           "tags": ("x", "y"), "shuffle": False, "strict": True, "config_path": "c.yaml",
                           "sets": "a,b"}  # a list for a single-valued option: comma-separated


def test_global_options_come_before_the_command(jobspec, jobcli):
    s = spec(jobspec, args={"store": "st"}, ray_address="10.0.0.1:6379", num_cpus=2, log_level="DEBUG",
             quiet=True, debug=True)
    argv = jobcli.build_argv(s, demo)
    assert argv[:argv.index("demo")] == ["--address", "10.0.0.1:6379", "--num-cpus", "2", "--log-level",
                                         "DEBUG", "--quiet", "--debug"]
    assert parse(argv)["shuffle"] is True  # left out -> the command's default


def test_unmappable_arguments_are_refused(jobspec, jobcli):
    with pytest.raises(jobspec.JobSpecError) as info:
        jobcli.build_argv(spec(jobspec, args={"store": "st", "colour": "red"}), demo)
    assert "args.colour: expected a parameter of `alnm-ray demo`" in str(info.value)


def test_spec_key_is_the_long_option_without_dashes(jobcli):
    assert {jobcli.spec_key(p) for p in demo.params} == {
        "inputs", "store", "margin_mm", "tag", "shuffle", "strict", "config", "sets"}


@pytest.mark.parametrize("job", ["extract", "embed", "tune", "score"])
def test_schema_matches_the_cli_command(job, jobspec, jobcli):
    command_name = jobspec.JOB_COMMANDS[job]
    if command_name not in COMMANDS:
        pytest.skip(f"`alnm-ray {command_name}` is not registered in this tree yet")
    command = jobcli.get_command(command_name)
    params = jobcli.spec_params(command)
    schema = jobspec.load_schema()["$defs"][f"{job}_args"]
    props = schema["properties"]
    assert set(props) == set(params), (
        f"schema-only: {sorted(set(props) - set(params))}; CLI-only: {sorted(set(params) - set(props))}")
    required_cli = {k for k, p in params.items() if p.required and p.default is None and not p.envvar}
    assert required_cli <= set(schema.get("required", [])), required_cli
    for key, param in params.items():
        if isinstance(param, click.Option) and param.is_flag and param.is_bool_flag:
            assert props[key].get("type") == "boolean", key


def test_check_prints_the_equivalent_command_and_runs_nothing(jobcli, write_spec, capsys):
    path = write_spec("job: extract\nargs:\n  manifest: m.csv\n  store: st\n  max_failures: 2\n")
    assert jobcli.run_job("extract", ["--check", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "alnm-ray extract --store=st --max-failures=2 -- m.csv"


def test_bad_spec_exits_2_with_the_message(jobcli, write_spec, capsys):
    path = write_spec("job: extract\nargs:\n  store: st\n")
    assert jobcli.run_job("extract", [str(path)]) == jobcli.EXIT_BAD_SPEC == 2
    err = capsys.readouterr().err
    assert "Error: job spec" in err and "args.manifest: expected a value" in err


def test_cli_errors_keep_their_exit_status(jobcli, write_spec, tmp_path, capsys):
    # A manifest that does not exist: the extract command itself rejects it (click usage error, 2).
    path = write_spec(f"job: extract\nargs:\n  manifest: {tmp_path / 'none.csv'}\n  store: {tmp_path}\n")
    assert jobcli.run_job("extract", [str(path)]) == 2
    assert "none.csv" in capsys.readouterr().err
