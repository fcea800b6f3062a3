"""The shared CLI options: one declaration each, defaults and choices from their owners."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.cli.options import (
    CLASSIFIERS,
    STORE_ENVVAR,
    RegistryChoice,
    default_of,
    format_option,
    registry_list,
    seed_option,
    store_option,
    table_pins,
)
from alnm_ray.model.classifiers import CLASSIFIER_NAMES
from alnm_ray.score.job import ScoreOptions
from alnm_ray.select.config import PRESETS
from alnm_ray.tune.config import TuneRunConfig

_TUNE = TuneRunConfig(store="unused")
_SCORE = ScoreOptions()


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


def _option(command: click.Command, name: str) -> click.Option:
    found = [p for p in command.params if isinstance(p, click.Option) and name in p.opts]
    assert len(found) == 1, f"{command.name}: {name}"
    return found[0]


def _echo_command(*decorators) -> click.Command:
    def body(**kwargs) -> None:
        click.echo(repr(sorted(kwargs.items())))

    for decorate in reversed(decorators):
        body = decorate(body)
    return click.command()(body)


def test_default_of_reads_the_dataclass_and_function_defaults() -> None:
    assert default_of("alnm_ray.tune.config:TuneRunConfig", "repeats")() == _TUNE.repeats
    assert default_of("alnm_ray.tune.config:TuneRunConfig", "classifiers")() == CLASSIFIER_NAMES
    assert default_of("alnm_ray.report.build:build_report", "seed")() == 0
    assert str(default_of("alnm_ray.score.job:ScoreOptions", "n_boot")) == "ScoreOptions.n_boot"
    with pytest.raises(LookupError, match="TuneRunConfig.nope"):
        default_of("alnm_ray.tune.config:TuneRunConfig", "nope")()
    with pytest.raises(LookupError, match="build_report.run_dir"):
        default_of("alnm_ray.report.build:build_report", "run_dir")()


@pytest.mark.parametrize(("command", "option", "owner"), [
    ("tune", "--repeats", _TUNE.repeats), ("tune", "--folds", _TUNE.folds),
    ("tune", "--n-boot", _TUNE.n_boot), ("tune", "--samples", _TUNE.samples),
    ("tune", "--inner-folds", _TUNE.inner_folds), ("tune", "--test-size", _TUNE.test_size),
    ("tune", "--preset", _TUNE.preset), ("tune", "--join", _TUNE.join),
    ("score", "--n-boot", _SCORE.n_boot), ("score", "--batch-size", _SCORE.batch_size),
])
def test_command_defaults_are_the_config_defaults(command: str, option: str, owner: object) -> None:
    param = _option(_command(command), option)
    assert param.get_default(click.Context(_command(command))) == owner


def test_store_option_reads_the_environment_variable(monkeypatch) -> None:
    command = _echo_command(store_option())
    monkeypatch.setenv(STORE_ENVVAR, "env-store/")
    assert "('store', 'env-store/')" in CliRunner().invoke(command, []).output
    assert "('store', 'given/')" in CliRunner().invoke(command, ["--store", "given/"]).output
    monkeypatch.delenv(STORE_ENVVAR)
    missing = CliRunner().invoke(command, [])
    assert missing.exit_code == 2 and "Missing option '--store'" in missing.output


@pytest.mark.parametrize("name", ["sql", "tune", "train", "score", "embed", "extract"])
def test_every_store_option_is_the_shared_one(name: str) -> None:
    param = _option(_command(name), "--store")
    assert param.envvar == STORE_ENVVAR and param.metavar == "STORE"
    assert f"${STORE_ENVVAR}" in (param.help or "")


def test_features_subcommands_share_the_store_and_format_options() -> None:
    group = _command("features")
    assert isinstance(group, click.Group)
    for sub in ("list", "show", "verify"):
        command = group.commands[sub]
        assert _option(command, "--store").envvar == STORE_ENVVAR
        assert _option(command, "--format").type.choices == ("table", "json")


def test_format_and_seed_options() -> None:
    command = _echo_command(format_option(("csv", "json")), seed_option(7))
    out = CliRunner().invoke(command, []).output
    assert "('fmt', 'csv')" in out and "('seed', 7)" in out
    bad = CliRunner().invoke(command, ["--format", "xml"])
    assert bad.exit_code == 2 and "'xml' is not one of 'csv', 'json'" in bad.output


def test_registry_choice_accepts_registered_names_and_suggests() -> None:
    kind = RegistryChoice(CLASSIFIERS, "classifier")
    assert kind.choices() == CLASSIFIER_NAMES
    assert kind.convert("lr", None, None) == "lr"
    with pytest.raises(click.BadParameter, match="classifier: expected one of .*Did you mean 'xgboost'"):
        kind.convert("xgbost", None, None)
    assert RegistryChoice("alnm_ray.select.config:PRESETS", "preset").choices() == tuple(PRESETS)


def test_registry_list_expands_all_and_checks_each_name() -> None:
    parse = registry_list(CLASSIFIERS, "classifier")
    assert parse(None, None, "all") == CLASSIFIER_NAMES
    assert parse(None, None, "lr, mlp") == ("lr", "mlp")
    with pytest.raises(click.BadParameter, match="Did you mean 'mlp'"):
        parse(None, None, "lr,mpl")
    with pytest.raises(click.BadParameter, match="comma-separated"):
        parse(None, None, " , ")


def test_train_rejects_an_unknown_classifier_before_any_work(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["train", "--store", str(tmp_path), "--feature-set", "radiomics",
                                      "--classifier", "svn", "--out", str(tmp_path / "b"), "--unsigned"])
    assert result.exit_code == 2 and "Did you mean 'svm'" in result.output
    assert not (tmp_path / "b").exists()


def test_table_pins() -> None:
    assert table_pins(None, None, ("radiomics@1a2b", "deep@9f")) == {"radiomics": "1a2b", "deep": "9f"}
    for bad in ("radiomics", "@1a2b", "radiomics@"):
        with pytest.raises(click.BadParameter, match="TABLE@VERSION"):
            table_pins(None, None, (bad,))


def test_help_names_where_a_lazy_default_lives() -> None:
    result = CliRunner().invoke(cli, ["tune", "--help"])
    assert result.exit_code == 0 and "TuneRunConfig.repeats" in result.output

