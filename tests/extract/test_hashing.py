import hashlib

from alnm_ray.extract.hashing import CHUNK_BYTES, case_hash, library_versions, sha256_file, version_id


def test_streamed_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_folder_hash_covers_names_and_contents(tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    (d / "a.dcm").write_bytes(b"1")
    (d / "b.dcm").write_bytes(b"2")
    h1 = sha256_file(d)
    (d / "b.dcm").write_bytes(b"3")
    assert sha256_file(d) != h1


def test_case_hash_changes_with_every_input():
    base = dict(key=("c", "X", "p1", "T2WI", "A"), image_sha256="i", mask_sha256="m", mask_label=1,
                preprocess_hash="pp", params_hash="pa", versions={"pyradiomics": "3.0.1"})
    h = case_hash(**base)
    assert h == case_hash(**base)
    for field, value in [("image_sha256", "j"), ("mask_sha256", "n"), ("mask_label", 2),
                         ("preprocess_hash", "pq"), ("params_hash", "pb"),
                         ("versions", {"pyradiomics": "3.1"}), ("key", ("c", "X", "p2", "T2WI", "A"))]:
        assert case_hash(**{**base, field: value}) != h, field


def test_version_id_ignores_order_and_tracks_config():
    assert version_id(["b", "a"], table_config={"x": 1}) == version_id(["a", "b"], table_config={"x": 1})
    assert version_id(["a"], table_config={"x": 1}) != version_id(["a"], table_config={"x": 2})


def test_library_versions_cover_the_stack():
    v = library_versions()
    assert {"pyradiomics", "SimpleITK", "antspyx", "numpy", "alnm-ray"} <= set(v)
