"""Reading protocols: the shipped ones by name, any file by path; schema check with "did you mean".

:func:`schema_problems` lists every schema violation of a parsed protocol at
once, each as a four-part line (where, what was expected, what was found, how
to fix it); :func:`load_protocol` raises :class:`ProtocolError` with all of
them.  Unknown keys and unknown step, classifier or extractor names get the
closest known name as a suggestion.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from alnm_ray._validation import did_you_mean
from alnm_ray.exceptions import ConfigError, ProtocolError
from alnm_ray.protocol.model import Protocol

#: Protocols shipped with the package (``alnm_ray/protocol/shipped/<name>.yaml``).
SHIPPED: tuple[str, ...] = ("guo2024", "liu2025", "gu2025", "zhang2025")


@functools.lru_cache(maxsize=1)
def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of protocol files (``schemas/protocol.schema.json``)."""
    text = resources.files("alnm_ray").joinpath("schemas", "protocol.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def shipped_text(name: str) -> str:
    """The YAML text of a shipped protocol."""
    return resources.files("alnm_ray.protocol").joinpath("shipped", f"{name}.yaml").read_text(encoding="utf-8")


def _where(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema["$defs"][ref.split("/")[-1]]
    return node


def _describe(error: Any, schema: dict[str, Any]) -> str:
    where = _where(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = sorted(_resolve(schema, error.schema).get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = extra[0] if extra else "?"
        return (f"{where}: unknown key {key!r}; expected one of {', '.join(allowed)}; got "
                f"{', '.join(map(repr, extra))}.{did_you_mean(key, allowed)} Rename or remove it.")
    if validator == "required":
        return f"{where}: {error.message}; expected every required key. Add it (see a shipped protocol)."
    if validator in ("enum", "const"):
        options = error.validator_value if validator == "enum" else [error.validator_value]
        return (f"{where}: expected one of {', '.join(map(str, options))}; got {error.instance!r}."
                f"{did_you_mean(str(error.instance), [str(o) for o in options])} Use a listed name.")
    if validator == "propertyNames":
        options = _resolve(schema, error.validator_value).get("enum", [])
        bad = error.instance if not isinstance(error.instance, dict) else "?"
        return (f"{where}: unknown name {bad!r}; expected one of {', '.join(map(str, options))}."
                f"{did_you_mean(str(bad), [str(o) for o in options])} Use a listed name.")
    return f"{where}: {error.message}. Fix the value (schemas/protocol.schema.json describes the format)."


def schema_problems(data: Any) -> list[str]:
    """Every schema violation of a parsed protocol, as four-part lines (sorted by location)."""
    import jsonschema

    if not isinstance(data, dict):
        return [f"protocol: expected a YAML mapping of sections; got {type(data).__name__}. Start from "
                "a shipped protocol (`alnm-ray protocol show guo2024 > mine.yaml`)."]
    schema = protocol_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        if error.validator == "propertyNames":
            for sub in error.context or []:
                name = sub.instance
                options = [str(o) for o in _resolve(schema, error.validator_value).get("enum", [])]
                problems.append(f"{_where(error.absolute_path)}: unknown name {name!r}; expected one of "
                                f"{', '.join(options)}.{did_you_mean(str(name), options)} Use a listed name.")
            continue
        problems.append(_describe(error, schema))
    return list(dict.fromkeys(problems))


def parse_protocol(text: str, source: str) -> Protocol:
    """Parse and schema-check YAML text.

    Raises:
        ProtocolError: Not YAML, or schema violations (all listed).
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"protocol {source}: expected valid YAML; the parser says: {exc}. Fix the "
                            "indentation or quoting at that line.") from exc
    problems = schema_problems(data)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems)
        raise ProtocolError(f"protocol {source}: {len(problems)} problem(s):\n{shown}", problems)
    return Protocol(data=data, text=text, source=source)


def load_protocol(spec: str | Path) -> Protocol:
    """A shipped protocol by name, or a protocol file by path.

    Args:
        spec: ``guo2024``, ``liu2025``, ``gu2025``, or a path to a YAML file.

    Returns:
        The :class:`Protocol`.

    Raises:
        ProtocolError: Unknown name (with a suggestion), unreadable file, invalid YAML
            or schema violations.

    Example:
        >>> load_protocol("liu2025").post_sets
        ('post:clinical+radiomics', 'post:clinical+deep', 'post:clinical+radiomics+deep')
    """
    text_spec = str(spec)
    path = Path(text_spec)
    if text_spec in SHIPPED:
        return parse_protocol(shipped_text(text_spec), text_spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ProtocolError(f"protocol {text_spec}: expected a YAML file or a shipped protocol name "
                                f"({', '.join(SHIPPED)}); found no such file. Check the path.")
        return parse_protocol(path.read_text(encoding="utf-8"), str(path))
    raise ProtocolError(f"protocol {text_spec!r}: expected a shipped protocol ({', '.join(SHIPPED)}) or a "
                        f"YAML file; got neither.{did_you_mean(text_spec, SHIPPED)} List them with "
                        "`alnm-ray protocol list`.")
