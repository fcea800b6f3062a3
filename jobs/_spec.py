"""Job specs: a small YAML file that says which alnm-ray command to run, and how.

A spec names the job (``extract``, ``embed``, ``tune``, ``score``), the
command's arguments under ``args`` (named exactly as the CLI command's
parameters, with underscores: ``--weights-file`` is ``weights_file``), and
optionally where Ray is and how much to log::

    job: extract
    args:
      manifest: ${ALNM_MANIFEST:-/mnt/alnm/cohorts/guo2024/manifest.csv}
      store: s3://my-bucket/alnm-store
    ray:
      address: auto          # default: RAY_ADDRESS (set by `ray job submit`)
    log_level: INFO

``${NAME}`` and ``${NAME:-default}`` in any string are replaced from the
environment (a RayJob sets them in ``runtimeEnvYAML``), so one spec serves
several cohorts and stores.  Relative paths mean what they mean on the
command line: relative to the job's working directory.

The spec is checked against ``schemas/jobspec.schema.json`` before anything
runs; every problem is reported at once, each naming the field, what was
expected, what was found and how to fix it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alnm_ray._validation import did_you_mean
from alnm_ray.exceptions import ConfigError

#: Jobs and the alnm-ray CLI command each one runs.
JOB_COMMANDS: dict[str, str] = {"extract": "extract", "embed": "embed", "tune": "tune", "score": "score"}
#: File name of the schema inside ``schemas/`` (and the installed ``alnm_ray/schemas``).
SCHEMA_NAME = "jobspec.schema.json"
#: How many problems one error message lists before "… and N more".
MAX_PROBLEMS = 8

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class JobSpecError(ConfigError):
    """A job spec cannot be read or does not satisfy the job-spec schema.

    Args:
        source: The spec file (or ``"<spec>"`` for an in-memory mapping).
        problems: One line per problem: field, expected, found, fix.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:MAX_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = [f"  - {p}" for p in shown] + ([f"  - … and {more} more"] if more > 0 else [])
        super().__init__(f"job spec {source}: {len(self.problems)} problem(s):\n" + "\n".join(lines))


@dataclass(frozen=True)
class JobSpec:
    """A validated job spec.

    Attributes:
        job: The job name (a key of :data:`JOB_COMMANDS`).
        args: The command's arguments by parameter name (environment expanded).
        ray_address: Cluster address, or ``None`` to use ``RAY_ADDRESS`` / an embedded Ray.
        num_cpus: CPUs of an embedded Ray (ignored on a cluster).
        log_level: Console log level, or ``None`` for the CLI default.
        quiet: No progress output.
        debug: Re-raise errors with their traceback.
        source: Where the spec came from (for messages).
    """

    job: str
    args: Mapping[str, Any] = field(default_factory=dict)
    ray_address: str | None = None
    num_cpus: int | None = None
    log_level: str | None = None
    quiet: bool = False
    debug: bool = False
    source: str = "<spec>"

    @property
    def command(self) -> str:
        """The alnm-ray command this job runs."""
        return JOB_COMMANDS[self.job]


def load_schema() -> dict[str, Any]:
    """The job-spec JSON schema (draft 2020-12), from the installed package."""
    text = resources.files("alnm_ray").joinpath("schemas", SCHEMA_NAME).read_text(encoding="utf-8")
    return json.loads(text)


def load_spec(path: str | os.PathLike[str], *, job: str | None = None,
              environ: Mapping[str, str] | None = None) -> JobSpec:
    """Read, expand and validate a YAML job spec.

    Args:
        path: The spec file.
        job: The job the caller runs (``jobs/extract.py`` passes ``"extract"``);
            a spec for another job is refused.  ``None`` accepts any job.
        environ: Variables for ``${NAME}`` expansion (default ``os.environ``).

    Returns:
        The validated :class:`JobSpec`.

    Raises:
        JobSpecError: The file is missing or not YAML, a variable is unset, or
            the content does not satisfy the schema (every problem listed).
    """
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise JobSpecError(source, [
            f"file: expected a readable YAML job spec; got {type(err).__name__}: "
            f"{err.strerror or err}. Check the path (relative paths start at the job's "
            "working directory; with `ray job submit --working-dir .` that is the uploaded folder)."
        ]) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the file"
        raise JobSpecError(source, [
            f"{where}: expected valid YAML; got a syntax error ({getattr(err, 'problem', err)}). "
            "Fix the indentation or quoting there."
        ]) from err
    return spec_from_mapping(data, source=source, job=job, environ=environ)


def spec_from_mapping(data: Any, *, source: str = "<spec>", job: str | None = None,
                      environ: Mapping[str, str] | None = None) -> JobSpec:
    """Validate an already-parsed spec (see :func:`load_spec`)."""
    if not isinstance(data, Mapping):
        raise JobSpecError(source, [
            f"top level: expected a mapping with `job:` and `args:`; got {_kind(data)}. "
            "Start from an example in jobs/examples/."
        ])
    data = expand_env(data, environ=os.environ if environ is None else environ, source=source)
    problems = validate_spec(data)
    if problems:
        raise JobSpecError(source, problems)
    if job is not None and data["job"] != job:
        raise JobSpecError(source, [
            f"job: expected {job!r} (this is the {job} entrypoint); got {data['job']!r}. "
            f"Run jobs/{data['job']}.py with this spec, or change `job:`."
        ])
    ray_cfg = data.get("ray") or {}
    return JobSpec(
        job=data["job"], args=dict(data["args"]), ray_address=ray_cfg.get("address"),
        num_cpus=ray_cfg.get("num_cpus"), log_level=data.get("log_level"),
        quiet=bool(data.get("quiet", False)), debug=bool(data.get("debug", False)), source=source,
    )


def expand_env(value: Any, *, environ: Mapping[str, str], source: str = "<spec>",
               where: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of ``value``.

    Raises:
        JobSpecError: A referenced variable is unset and has no default
            (all such fields are listed).
    """
    missing: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            def sub(match: re.Match[str]) -> str:
                name, default = match.group(1), match.group(2)
                if name in environ:
                    return environ[name]
                if default is not None:
                    return default
                missing.append(
                    f"{path or 'value'}: expected environment variable {name} to be set "
                    f"(the spec says ${{{name}}}); it is not. Set it (RayJob: runtimeEnvYAML "
                    f"env_vars; ray job submit: --runtime-env-json '{{\"env_vars\": {{\"{name}\": …}}}}') "
                    f"or give a default: ${{{name}:-…}}."
                )
                return match.group(0)
            return _ENV_REF.sub(sub, node)
        if isinstance(node, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return node

    out = walk(value, where)
    if missing:
        raise JobSpecError(source, missing)
    return out


def validate_spec(data: Mapping[str, Any]) -> list[str]:
    """Check a spec against the schema; one four-part line per problem (empty when valid)."""
    import jsonschema

    schema = load_schema()
    jobs = sorted(JOB_COMMANDS)
    job = data.get("job")
    if job not in JOB_COMMANDS:
        found = "nothing" if job is None else repr(job)
        hint = did_you_mean(str(job), jobs) if isinstance(job, str) else ""
        return [f"job: expected one of {', '.join(jobs)}; got {found}.{hint} "
                "Set `job:` to the entrypoint's job (jobs/<job>.py)."]
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return [line for err in errors for line in _describe(err, job)]


def _describe(err: Any, job: str) -> list[str]:
    """Lines for one jsonschema error: field, expected, found, fix."""
    where = ".".join(str(p) for p in err.absolute_path) or "top level"
    part = f"$defs/{job}_args" if where.startswith("args") else "top-level properties"
    fix = f"See schemas/{SCHEMA_NAME} ({part}) and jobs/examples/{job}.yaml."
    kind = err.validator
    if kind == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        shown = ", ".join(allowed[:12]) + (", …" if len(allowed) > 12 else "")
        lines = []
        for name in sorted(set(err.instance) - set(allowed)):
            hint = did_you_mean(str(name).replace("-", "_"), allowed)
            key = f"{where}.{name}" if where != "top level" else str(name)
            lines.append(f"{key}: expected one of the known keys ({shown}); got unknown key {name!r}.{hint} "
                         f"Rename or remove it. {fix}")
        return lines
    return [_describe_one(err, where, fix)]


def _describe_one(err: Any, where: str, fix: str) -> str:
    kind = err.validator
    if kind == "required":
        name = _missing_key(err.message)
        key = f"{where}.{name}" if where != "top level" else name
        desc = err.schema.get("properties", {}).get(name, {}).get("description", "")
        return (f"{key}: expected a value{f' ({desc})' if desc else ''}; got nothing. "
                f"Add `{name}:` under `{where if where != 'top level' else 'the top level'}`. {fix}")
    desc = err.schema.get("description") if isinstance(err.schema, Mapping) else None
    if kind == "enum":
        options = [str(o) for o in err.validator_value]
        expected = f"one of {', '.join(options)}"
        hint = did_you_mean(str(err.instance), options)
        return f"{where}: expected {expected}; got {err.instance!r}.{hint} {fix}"
    if kind == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in types) + (f" ({desc})" if desc else "")
        return f"{where}: expected {expected}; got {_kind(err.instance)} {err.instance!r}. {fix}"
    expected = _EXPECTED.get(kind, lambda v: f"{kind} {v!r}")(err.validator_value)
    return (f"{where}: expected {expected}{f' ({desc})' if desc else ''}; got {err.instance!r}. {fix}")


_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
               "array": "a list", "object": "a mapping", "null": "null"}
_EXPECTED: dict[str, Any] = {
    "minimum": lambda v: f"a number >= {v}",
    "exclusiveMinimum": lambda v: f"a number > {v}",
    "maximum": lambda v: f"a number <= {v}",
    "exclusiveMaximum": lambda v: f"a number < {v}",
    "minLength": lambda v: f"a string of at least {v} character(s)",
    "pattern": lambda v: f"a string matching {v}",
    "minItems": lambda v: f"at least {v} item(s)",
    "uniqueItems": lambda v: "no repeated items",
    "const": lambda v: f"exactly {v!r}",
}


def _missing_key(message: str) -> str:
    match = re.match(r"'([^']+)' is a required property", message)
    return match.group(1) if match else message


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)

