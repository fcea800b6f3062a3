"""Content hashes, table/version names and references."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.store.versions import (VersionInfo, canonical_json, check_table_name,
                                     check_version_id, content_hash, split_ref)


def test_content_hash_ignores_key_order_and_container_kind() -> None:
    a = content_hash({"params": {"binWidth": 25, "label": 1}, "cases": ["x", "y"]})
    b = content_hash({"cases": ("x", "y"), "params": {"label": 1, "binWidth": 25}})
    assert a == b and len(a) == 64 and int(a, 16) >= 0


def test_content_hash_changes_with_any_value() -> None:
    base = {"cases": ["x", "y"], "package": "0.1.0"}
    assert content_hash(base) != content_hash({**base, "package": "0.1.1"})
    assert content_hash(base) != content_hash({**base, "cases": ["y", "x"]})


def test_canonical_json_handles_numpy_paths_sets_and_nan() -> None:
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        spacing: tuple = (1.0, 1.0, 1.0)

    text = canonical_json({"n": np.int64(3), "x": np.float32(0.5), "p": Path("/a/b"),
                           "s": {"b", "a"}, "nan": math.nan, "cfg": Cfg()})
    assert text == ('{"cfg":{"spacing":[1.0,1.0,1.0]},"n":3,"nan":{"__float__":"nan"},'
                    '"p":"/a/b","s":["a","b"],"x":0.5}')


def test_content_hash_rejects_opaque_objects() -> None:
    with pytest.raises(ConfigError, match="expected JSON-like values.*got object"):
        content_hash({"x": object()})


@pytest.mark.parametrize("bad, hint", [("Radiomics", "'radiomics'"), ("2d", "'t_2d'"),
                                       ("my table", "'my_table'")])
def test_table_name_must_be_lower_case_identifier(bad: str, hint: str) -> None:
    with pytest.raises(ConfigError, match="expected a lower-case identifier") as info:
        check_table_name(bad)
    assert f"Use e.g. {hint}" in str(info.value)


@pytest.mark.parametrize("reserved", ["errors", "catalog"])
def test_reserved_table_names(reserved: str) -> None:
    with pytest.raises(ConfigError, match=f"'{reserved}' is reserved"):
        check_table_name(reserved)


@pytest.mark.parametrize("bad", ["../x", "a/b", "a@b", "", "x y"])
def test_version_id_rejects_path_like_values(bad: str) -> None:
    with pytest.raises(ConfigError, match="version_id: expected a hex content hash"):
        check_version_id(bad)
    assert check_version_id("3fa2c1") == "3fa2c1"


def test_split_ref_and_version_info_refs() -> None:
    assert split_ref("radiomics") == ("radiomics", None)
    assert split_ref("radiomics@ab12") == ("radiomics", "ab12")
    info = VersionInfo(table="deep", version="0123456789abcdef", created="t", rows=1, cases=1,
                       failures=0, columns=(("patient_id", "string"),))
    assert info.ref == "deep@0123456789abcdef" and info.short == "deep@0123456789ab"
    assert info.to_dict()["columns"] == [["patient_id", "string"]]


def test_library_versions_reports_installed_and_missing() -> None:
    from alnm_ray import __version__
    from alnm_ray.store import library_versions

    found = library_versions("pyarrow", "no-such-distribution-xyz")
    assert found["alnm-ray"] == __version__ and found["no-such-distribution-xyz"] is None
    assert found["pyarrow"].split(".")[0].isdigit()
