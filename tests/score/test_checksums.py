"""Checksum files: format, parsing and comparison."""

from __future__ import annotations

import hashlib

import pytest

from alnm_ray.exceptions import BundleIntegrityError
from alnm_ray.score.checksums import (CHECKSUM_FILE, compare, parse_checksums, read_verified,
                                      write_checksums)


def test_write_checksums_lists_every_file_in_sha256sum_format(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    digests = write_checksums(tmp_path)
    text = (tmp_path / CHECKSUM_FILE).read_text(encoding="utf-8")
    bin_sha = hashlib.sha256(bytes([0, 1])).hexdigest()
    assert text.splitlines() == [f"{hashlib.sha256(b'alpha').hexdigest()}  a.txt", f"{bin_sha}  sub/b.bin"]
    assert parse_checksums(text) == digests
    assert set(read_verified(tmp_path)) == {"a.txt", "sub/b.bin"}


def test_parse_rejects_malformed_and_duplicate_lines():
    with pytest.raises(BundleIntegrityError, match=r"line 1: expected '<64 hex digits>  <file name>'"):
        parse_checksums("abc  model.skops\n")
    line = "0" * 64 + "  x\n"
    with pytest.raises(BundleIntegrityError, match="'x' is listed twice"):
        parse_checksums(line + line)


def test_compare_names_altered_missing_and_added_files():
    report = compare({"a": "1" * 64, "b": "2" * 64, "c": "3" * 64}, {"a": "1" * 64, "b": "9" * 64, "d": "4" * 64})
    assert (report.altered, report.missing, report.added) == (("b",), ("c",), ("d",))
    message = report.message("B")
    assert "altered (checksum differs): b" in message and "removed: c" in message
    assert "added (not in the checksum file): d" in message and "Nothing was deserialised" in message


def test_missing_checksum_file_is_refused(tmp_path):
    (tmp_path / "metadata.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BundleIntegrityError, match="expected a CHECKSUMS.sha256 file"):
        read_verified(tmp_path)


def test_the_signature_file_is_neither_listed_nor_read_as_payload(tmp_path):
    from alnm_ray.score.checksums import SIGNATURE_FILE, read_head, read_payload

    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / SIGNATURE_FILE).write_bytes(b"{}")
    assert set(write_checksums(tmp_path)) == {"a.txt"}
    listing, signature = read_head(tmp_path)
    assert listing == (tmp_path / CHECKSUM_FILE).read_bytes() and signature == b"{}"
    assert set(read_payload(tmp_path)) == {"a.txt"}
    (tmp_path / SIGNATURE_FILE).unlink()
    assert read_head(tmp_path)[1] is None
