"""jobs/_spec.py: job specs are validated up front, with four-part messages."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from alnm_ray.exceptions import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "jobs" / "examples").glob("*.yaml"))
GOOD = """
job: extract
args:
  manifest: cohort/manifest.csv
  store: s3://bucket/store
"""


def problems(jobspec, path, **kwargs) -> list[str]:
    with pytest.raises(jobspec.JobSpecError) as info:
        jobspec.load_spec(path, **kwargs)
    return info.value.problems


def test_schema_is_a_valid_draft_2020_12_schema(jobspec):
    jsonschema.Draft202012Validator.check_schema(jobspec.load_schema())


def test_schema_lists_exactly_the_jobs_with_entrypoints(jobspec, jobs_dir):
    schema = jobspec.load_schema()
    assert sorted(schema["properties"]["job"]["enum"]) == sorted(jobspec.JOB_COMMANDS)
    for job in jobspec.JOB_COMMANDS:
        assert (jobs_dir / f"{job}.py").is_file()
        assert f"{job}_args" in schema["$defs"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_for_its_own_entrypoint(jobspec, example):
    spec = jobspec.load_spec(example, job=example.stem, environ={})
    assert spec.job == example.stem and spec.args


def test_a_good_spec_loads_with_defaults(jobspec, write_spec):
    spec = jobspec.load_spec(write_spec(GOOD), job="extract", environ={})
    assert spec.command == "extract"
    assert spec.args == {"manifest": "cohort/manifest.csv", "store": "s3://bucket/store"}
    assert spec.ray_address is None and spec.num_cpus is None and spec.quiet is False


def test_environment_variables_and_defaults_are_expanded(jobspec, write_spec):
    path = write_spec(GOOD.replace("s3://bucket/store", "${STORE}").replace(
        "cohort/manifest.csv", "${ROOT:-/mnt/alnm}/m.csv"))
    spec = jobspec.load_spec(path, environ={"STORE": "gs://b/s"})
    assert spec.args == {"manifest": "/mnt/alnm/m.csv", "store": "gs://b/s"}


def test_unset_variable_names_the_field_and_the_fix(jobspec, write_spec):
    path = write_spec(GOOD.replace("s3://bucket/store", "${ALNM_RAY_STORE}"))
    [msg] = problems(jobspec, path, environ={})
    assert msg.startswith("args.store: expected environment variable ALNM_RAY_STORE to be set")
    assert "runtimeEnvYAML" in msg and "${ALNM_RAY_STORE:-" in msg


def test_unknown_job_suggests_the_closest(jobspec, write_spec):
    [msg] = problems(jobspec, write_spec(GOOD.replace("job: extract", "job: extrct")), environ={})
    assert "job: expected one of embed, extract, score, tune; got 'extrct'. Did you mean 'extract'?" in msg


def test_spec_for_another_job_is_refused_by_an_entrypoint(jobspec, write_spec):
    [msg] = problems(jobspec, write_spec(GOOD), job="tune", environ={})
    assert "job: expected 'tune' (this is the tune entrypoint); got 'extract'" in msg
    assert "Run jobs/extract.py with this spec" in msg


def test_every_problem_is_reported_at_once(jobspec, write_spec):
    text = """
job: embed
lgo_level: INFO
args:
  manifst: m.csv
  store: ""
  batch_size: 0
  pool_max: two
"""
    found = problems(jobspec, write_spec(text), environ={})
    assert len(found) == 6, found
    joined = "\n".join(found)
    assert "lgo_level: expected one of the known keys" in joined and "Did you mean 'log_level'?" in joined
    assert "args.manifst: expected one of the known keys" in joined and "Did you mean 'manifest'?" in joined
    assert "args.manifest: expected a value" in joined and "got nothing" in joined
    assert "args.store: expected a string of at least 1 character(s)" in joined
    assert "args.batch_size: expected a number >= 1; got 0" in joined
    assert "args.pool_max: expected an integer; got a string 'two'" in joined
    for line in found:  # every line says where to look
        part = "$defs/embed_args" if line.startswith("args.") else "top-level properties"
        assert f"See schemas/jobspec.schema.json ({part})" in line


def test_enum_value_gets_did_you_mean(jobspec, write_spec):
    [msg] = problems(jobspec, write_spec(GOOD + "log_level: INF0\n"), environ={})
    assert "log_level: expected one of DEBUG, INFO, WARNING, ERROR; got 'INF0'. Did you mean 'INFO'?" in msg


def test_yaml_syntax_error_names_the_line(jobspec, write_spec):
    [msg] = problems(jobspec, write_spec("job: extract\nargs:\n  manifest: [a\n"), environ={})
    assert msg.startswith("line ") and "expected valid YAML" in msg


def test_missing_file_and_non_mapping_spec(jobspec, tmp_path, write_spec):
    [msg] = problems(jobspec, tmp_path / "nope.yaml")
    assert msg.startswith("file: expected a readable YAML job spec; got FileNotFoundError")
    [msg] = problems(jobspec, write_spec("- job: extract\n"), environ={})
    assert msg.startswith("top level: expected a mapping with `job:` and `args:`; got a list")


def test_error_is_a_config_error_with_a_capped_list(jobspec, write_spec):
    many = "\n".join(f"  extra_{i}: 1" for i in range(12))
    with pytest.raises(ConfigError) as info:
        jobspec.load_spec(write_spec(GOOD + many + "\n"), environ={})
    text = str(info.value)
    assert text.startswith("job spec ") and "spec.yaml: 12 problem(s)" in text
    assert "… and 4 more" in text
