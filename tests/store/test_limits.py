"""SQL bounds: sizes, timeout and memory limit on real DuckDB queries, a private temp folder."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from alnm_ray.exceptions import ConfigError, StoreError
from alnm_ray.store import StoreSQL, query
from alnm_ray.store.limits import (MIN_MEMORY, SQLLimits, default_memory_limit, parse_size,
                                   total_memory, watch_bound)


def test_parse_size_units_and_refusals() -> None:
    assert parse_size("2GB") == 2 * 10**9 and parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1.5gb") == 1_500_000_000 and parse_size(2**30) == 2**30
    if total_memory():
        assert parse_size("25%") == pytest.approx(total_memory() / 4, rel=1e-6)
        assert default_memory_limit() == pytest.approx(total_memory() / 4, rel=1e-6)
    for bad in ("lots", "2XB", "0%", "1KB"):
        with pytest.raises(ConfigError, match="--memory-limit: expected"):
            parse_size(bad)
    with pytest.raises(ConfigError, match="--timeout: expected a positive number"):
        SQLLimits(timeout_s=0)
    assert watch_bound(MIN_MEMORY) > MIN_MEMORY


@pytest.fixture
def big(store):
    store.write_version("big", pa.table({"x": pa.array(range(20_000), pa.int64())}), version_id="b1")
    return store


def test_timeout_stops_a_real_cross_join(big) -> None:
    with StoreSQL(big, limits=SQLLimits(timeout_s=0.5)) as session:
        with pytest.raises(StoreError, match=r"ran longer than --timeout 0.5 s and was stopped.*Raise --timeout"):
            session.query("SELECT count(*) FROM big a, big b, big c WHERE a.x + b.x + c.x = 3")


def test_memory_limit_stops_a_real_query(big) -> None:
    limits = SQLLimits(memory_limit=parse_size("64MB"))
    with pytest.raises(StoreError, match=r"needed more memory than --memory-limit 64 MB allows"):
        query(big, "SELECT list(i) FROM range(50000000) t(i)", limits=limits)


def test_the_session_temp_folder_is_private_and_removed(big) -> None:
    session = StoreSQL(big, limits=SQLLimits(memory_limit=parse_size("64MB")))
    tmp = session._tmp
    assert os.path.isdir(tmp) and os.path.basename(tmp).startswith("alnm-ray-sql-")
    setting = session._con.sql("SELECT current_setting('temp_directory') AS t").fetchall()[0][0]
    assert os.path.realpath(setting) == os.path.realpath(tmp)
    with pytest.raises(StoreError, match="file access is disabled"):
        session.query("SELECT * FROM read_csv('.tmp/x.csv')")
    session.close()
    assert not os.path.exists(tmp)
