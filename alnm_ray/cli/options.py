"""Options shared by the ``alnm-ray`` commands, each declared once.

A command stacks these decorators instead of restating an option.  Defaults
and choices are not written here either: :class:`default_of` reads a default
from the configuration dataclass (or function) that owns it, and
:class:`RegistryChoice` checks a name against the registry that owns the
names (classifiers, selection presets, …).  Both import their owner only when
the command runs, so ``alnm-ray <command> --help`` stays free of heavy imports.

Example:
    >>> import click
    >>> from click.testing import CliRunner
    >>> @click.command()
    ... @store_option()
    ... @seed_option()
    ... def show(store: str, seed: int) -> None:
    ...     click.echo(f"{store} {seed}")
    >>> CliRunner().invoke(show, ["--store", "s/"]).output
    's/ 0\\n'
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Environment variable giving the default ``--store`` of every command.
STORE_ENVVAR = "ALNM_RAY_STORE"


def _resolve(target: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class default_of:  # noqa: N801 - used like a function: ``default=default_of(...)``
    """The default of ``field`` in the dataclass or function ``owner``, read when first needed.

    Click calls it when the option is absent; ``--help`` shows where the
    default lives (``[default: TuneRunConfig.repeats]``) without importing it.

    Args:
        owner: ``"package.module:Name"`` of a dataclass or a function.
        field: A dataclass field or a keyword parameter of the function.

    Example:
        >>> default_of("alnm_ray.embed.config:EmbedConfig", "seed")()
        0
        >>> str(default_of("alnm_ray.embed.config:EmbedConfig", "seed"))
        'EmbedConfig.seed'
    """

    def __init__(self, owner: str, field: str) -> None:
        self.owner = owner
        self.field = field

    def __call__(self) -> Any:
        obj = _resolve(self.owner)
        if dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                if f.name == self.field:
                    if f.default is not dataclasses.MISSING:
                        return f.default
                    if f.default_factory is not dataclasses.MISSING:
                        return f.default_factory()
            raise LookupError(f"{self}: expected a dataclass field with a default; found none.")
        param = inspect.signature(obj).parameters.get(self.field)
        if param is None or param.default is inspect.Parameter.empty:
            raise LookupError(f"{self}: expected a keyword parameter with a default; found none.")
        return param.default

    def __str__(self) -> str:
        return f"{self.owner.rpartition(':')[2]}.{self.field}"

    __repr__ = __str__


class RegistryChoice(click.ParamType):
    """A name from a registry (a tuple of names or a dict keyed by name), read when the command runs.

    Args:
        registry: ``"package.module:NAMES"``.
        what: How messages call one name, e.g. ``"classifier"``.
        extra: Names accepted besides the registry's (e.g. ``"all"``).

    Example:
        >>> kind = RegistryChoice("alnm_ray.tune.config:JOINS", "join")
        >>> kind.convert("inner", None, None)
        'inner'
    """

    def __init__(self, registry: str, what: str, *, extra: Sequence[str] = ()) -> None:
        self.registry = registry
        self.what = what
        self.extra = tuple(extra)
        self.name = what.upper().replace(" ", "_")

    def choices(self) -> tuple[str, ...]:
        """Every accepted name, the registry's first."""
        return tuple(_resolve(self.registry)) + self.extra

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from alnm_ray._validation import look_up_option
        from alnm_ray.exceptions import ConfigError

        try:
            return look_up_option(self.what, value, self.choices())
        except ConfigError as err:
            self.fail(str(err), param, ctx)


def registry_list(registry: str, what: str) -> Callable[[click.Context, click.Parameter, str], tuple[str, ...]]:
    """A callback reading a comma-separated list of registry names; ``all`` stands for every one.

    Example:
        >>> parse = registry_list("alnm_ray.tune.config:JOINS", "join")
        >>> parse(None, None, "strict, inner"), parse(None, None, "all")
        (('strict', 'inner'), ('strict', 'inner'))
    """
    kind = RegistryChoice(registry, what)

    def callback(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
        items = comma_list(ctx, param, value)
        if items == ("all",):
            return tuple(_resolve(registry))
        return tuple(kind.convert(item, param, ctx) for item in items)

    return callback


def comma_list(_ctx: click.Context | None, _param: click.Parameter | None, value: str) -> tuple[str, ...]:
    """Split ``"a, b"`` into ``("a", "b")``; an empty list is refused."""
    items = tuple(v.strip() for v in str(value).split(",") if v.strip())
    if not items:
        raise click.BadParameter(f"expected a comma-separated list (or 'all'); got {value!r}.")
    return items


def table_pins(_ctx: click.Context | None, _param: click.Parameter | None,
               values: tuple[str, ...]) -> dict[str, str]:
    """``("radiomics@1a2b",)`` -> ``{"radiomics": "1a2b"}``.

    Example:
        >>> table_pins(None, None, ("radiomics@1a2b", "deep@9f"))
        {'radiomics': '1a2b', 'deep': '9f'}
    """
    out = {}
    for value in values:
        table, sep, version = value.partition("@")
        if not sep or not table or not version:
            raise click.BadParameter(f"expected TABLE@VERSION (e.g. radiomics@1a2b3c4d); got {value!r}.")
        out[table] = version
    return out


def store_option(*, required: bool = True, note: str = "") -> Callable[[F], F]:
    """``--store STORE`` (also ``$ALNM_RAY_STORE``): a folder or a pyarrow URI."""
    text = f"Feature store: a folder or URI (s3://…, gs://…); also ${STORE_ENVVAR}."
    # No ``default=``: click >= 8.3 takes an explicit ``default=None`` as a value, so --store would
    # not count as missing.
    return click.option("--store", required=required, envvar=STORE_ENVVAR, metavar="STORE",
                        help=f"{text} {note}".strip())


def format_option(choices: Sequence[str] = ("table", "json"),
                  help: str = "Human-readable text or JSON.") -> Callable[[F], F]:  # noqa: A002 - click's name
    """``--format`` (parameter ``fmt``); the first choice is the default."""
    return click.option("--format", "fmt", type=click.Choice(tuple(choices)), default=choices[0],
                        show_default=True, help=help)


def quiet_option() -> Callable[[F], F]:
    """``--quiet/-q``: no progress bars, warnings and errors only."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars; warnings and errors only.")


def data_root_option(*, note: str = "") -> Callable[[F], F]:
    """``--data-root DIR``: image and mask paths outside DIR are refused."""
    text = "efuse image/mask paths outside this folder (symbolic links are followed)."
    return click.option("--data-root", type=click.Path(file_okay=False), default=None,
                        help=f"{note} r{text}" if note else f"R{text}")


def seed_option(default: Any = 0, help: str = "Random seed.") -> Callable[[F], F]:  # noqa: A002
    """``--seed N``; ``default`` may be a :class:`default_of`, or ``None`` for "decided later"."""
    return click.option("--seed", type=int, default=default, show_default=default is not None, help=help)


def n_boot_option(default: Any, *, minimum: int, help: str) -> Callable[[F], F]:  # noqa: A002
    """``--n-boot N``: bootstrap replicates, at least ``minimum``."""
    return click.option("--n-boot", type=click.IntRange(min=minimum), default=default, show_default=True,
                        help=help)


def max_failures_option(help: str) -> Callable[[F], F]:  # noqa: A002
    """``--max-failures N`` (default 0): failures tolerated before the exit status turns 3."""
    return click.option("--max-failures", type=click.IntRange(min=0), default=0, show_default=True, help=help)


def report_json_option(help: str) -> Callable[[F], F]:  # noqa: A002
    """``--report-json FILE``: the run's counters and timings as JSON."""
    return click.option("--report-json", type=click.Path(dir_okay=False, writable=True), default=None,
                        help=help)


def table_pins_option(help: str) -> Callable[[F], F]:  # noqa: A002
    """``--table TABLE@VERSION`` (repeatable; parameter ``tables``, a dict)."""
    return click.option("--table", "tables", multiple=True, callback=table_pins, metavar="TABLE@VERSION",
                        help=help)


def cohorts_option(help: str) -> Callable[[F], F]:  # noqa: A002
    """``--cohort NAME`` (repeatable; parameter ``cohorts``)."""
    return click.option("--cohort", "cohorts", multiple=True, help=help)


def overwrite_option(help: str) -> Callable[[F], F]:  # noqa: A002
    """``--overwrite``: replace what an earlier run wrote."""
    return click.option("--overwrite", is_flag=True, help=help)


def json_flag(help: str = "Print the result as JSON.") -> Callable[[F], F]:  # noqa: A002
    """``--json`` (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def selection_options(*, preset_default: Any, preset_note: str = "") -> Callable[[F], F]:
    """``--preset NAME`` (a selection preset) and ``--selection FILE`` (a config YAML that wins)."""
    preset = click.option("--preset", type=RegistryChoice("alnm_ray.select.config:PRESETS", "selection preset"),
                          default=preset_default, show_default=preset_default is not None,
                          help=f"Selection preset {preset_note}".strip() + "; a wrong name lists them.")
    selection = click.option("--selection", "selection_yaml", type=click.Path(exists=True, dir_okay=False),
                             default=None, help="Selection config YAML ({preset: …, field: value…}); wins "
                                                "over --preset.")

    def decorate(fn: F) -> F:
        return preset(selection(fn))

    return decorate


#: The classifiers registry (names of :data:`alnm_ray.model.classifiers.CLASSIFIERS`).
CLASSIFIERS = "alnm_ray.model.classifiers:CLASSIFIER_NAMES"
