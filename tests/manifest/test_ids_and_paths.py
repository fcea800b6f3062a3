"""One id rule everywhere ids enter; input paths confined and checked with stat before any open."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest import (
    file_kind_problem, id_problem, outside_root, read_table, require_regular_file, validate_manifest,
)

HOSTILE = {
    "=HYPERLINK(\"http://x\",\"y\")": "'=HYPERLINK(\"http://x\",\"y\")' (contains '=')",
    "../../x": "'../../x' (contains '/')",
    "..": "'..' (starts with '.')",
    "-rf": "'-rf' (starts with '-')",
    "P1\n": "'P1\\n' (contains '\\n')",
    "P1\r\nP2": "'P1\\r\\nP2' (contains '\\r')",
    "P\u202e1gpj.exe": "'P\\u202e1gpj.exe' (contains '\\u202e')",
    "P\u200b1": "'P\\u200b1' (contains '\\u200b')",
    "a b": "'a b' (contains ' ')",
    "x" * 129: None,
}


@pytest.mark.parametrize("value", sorted(HOSTILE))
def test_hostile_ids_are_refused_with_the_value_shown_escaped(value: str) -> None:
    problem = id_problem(value)
    assert problem is not None
    if HOSTILE[value] is not None:
        assert problem == HOSTILE[value]
    else:
        assert problem.endswith("(129 characters)")
    assert problem.isascii() and "\n" not in problem and "\r" not in problem


@pytest.mark.parametrize("value", ["PX-7301", "007", "P_1.2", "_x", "A" * 128])
def test_ordinary_ids_pass(value: str) -> None:
    assert id_problem(value) is None


def test_the_json_schemas_carry_the_same_rule() -> None:
    for name, columns in (("manifest", ("cohort", "patient_id")), ("clinical", ("patient_id",))):
        text = resources.files("alnm_ray").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")
        props = json.loads(text)["properties"]
        for column in columns:
            spec = props[column]
            for value in [*HOSTILE, "PX-7301", "007", "A" * 128]:
                by_schema = bool(re.fullmatch(spec["pattern"].strip("^$"), value)) and len(value) <= spec["maxLength"]
                assert by_schema == (id_problem(value) is None), (name, column, value)


def test_manifests_and_clinical_tables_refuse_hostile_ids(good_manifest: Path) -> None:
    df = pd.read_csv(good_manifest, dtype=str)
    df.loc[0, "patient_id"] = "=HYPERLINK(\"http://x\")"
    df.loc[1, "cohort"] = "../../x"
    df.to_csv(good_manifest, index=False)
    clinical = good_manifest.parent / "clinical.csv"
    pd.DataFrame({"patient_id": ["P000\u202e", "P001", "P002"], "age": [1, 2, 3]}).to_csv(clinical, index=False)
    report, _ = validate_manifest(good_manifest, clinical, check_files=False)
    found = {(p.row, p.column): p for p in report.problems if p.found.startswith(("'=", "'.."))}
    assert found[(1, "patient_id")].found == "'=HYPERLINK(\"http://x\")' (contains '=')"
    assert found[(1, "patient_id")].expected.startswith("an id of ASCII letters, digits, '_', '.' or '-'")
    assert found[(1, "patient_id")].fix.startswith("rename the id using only letters")
    assert found[(2, "cohort")].found == "'../../x' (contains '/')"
    assert any(p.found == "'P000\\u202e' (contains '\\u202e')" for p in report.problems)


def test_a_trailing_newline_in_an_id_is_refused(tmp_path: Path, good_manifest: Path) -> None:
    # JSON Schema's "^...$" pattern would accept "P000\n": the id rule matches the whole value
    df = pd.read_csv(good_manifest, dtype=str)
    df.loc[0, "patient_id"] = "P000\n"
    df.to_csv(good_manifest, index=False)
    report, _ = validate_manifest(good_manifest, check_files=False)
    assert [(p.row, p.column, p.found) for p in report.problems] == [(1, "patient_id", "'P000\\n' (contains '\\n')")]


def test_data_root_confinement_follows_links(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside.nii.gz").write_bytes(b"x")
    (tmp_path / "root" / "link.nii.gz").symlink_to(tmp_path / "outside.nii.gz")
    assert outside_root(tmp_path / "root" / "link.nii.gz", tmp_path / "root")
    assert outside_root(tmp_path / "root" / ".." / "outside.nii.gz", tmp_path / "root")
    assert not outside_root(tmp_path / "root" / "sub" / "x.nii.gz", tmp_path / "root")


def test_a_link_out_of_the_data_root_is_refused(good_manifest: Path, tmp_path: Path) -> None:
    df = pd.read_csv(good_manifest, dtype=str)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.nii.gz"
    outside.write_bytes((tmp_path / df.loc[0, "image"]).read_bytes())
    (tmp_path / "images" / "link.nii.gz").symlink_to(outside)
    df.loc[0, "image"] = "images/link.nii.gz"
    df.to_csv(good_manifest, index=False)
    report, _ = validate_manifest(good_manifest, data_root=tmp_path, check_files=False)
    assert [(p.row, p.column, p.found) for p in report.problems] == [(1, "image", "images/link.nii.gz")]
    assert report.problems[0].expected == f"a path inside the data root {str(tmp_path.resolve())!r}"
    outside.unlink()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_refused_from_stat_alone(tmp_path: Path, good_manifest: Path) -> None:
    os.mkfifo(tmp_path / "x.nii.gz")
    assert file_kind_problem(tmp_path / "x.nii.gz") == (
        "a regular file", "x.nii.gz: a FIFO (named pipe)",
        "point the manifest at the file itself (special files such as pipes and devices are never read).")
    assert file_kind_problem(tmp_path, allow_dir=True) is None             # a DICOM series folder
    assert file_kind_problem(tmp_path)[1].endswith(": a folder")
    if os.path.exists("/dev/null"):
        assert file_kind_problem("/dev/null")[1] == "null: a character device"
    # even without opening files (extract, embed, score), the manifest refuses the FIFO
    df = pd.read_csv(good_manifest, dtype=str)
    df.loc[1, "mask"] = "x.nii.gz"
    df.to_csv(good_manifest, index=False)
    report, _ = validate_manifest(good_manifest, check_files=False)
    assert [str(p) for p in report.problems] == [
        "row 2, column 'mask': expected a regular file or a DICOM series folder; found x.nii.gz: a FIFO (named "
        "pipe). Fix: point the manifest at the file itself (special files such as pipes and devices are never "
        "read)."]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_folder_given_as_the_manifest_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.csv")
    with pytest.raises(ManifestError, match="manifest.csv: expected a regular file as the manifest; found a FIFO"):
        read_table(tmp_path / "manifest.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ManifestError, match="expected a regular file as the clinical table; found a folder"):
        read_table(tmp_path / "dir.csv", kind="clinical table")
    assert require_regular_file(__file__) == Path(__file__)
