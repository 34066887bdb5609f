"""Module fixtures for engine tests that need the plugin of their module's SALT and a DuckDB
connection with its functions and no real values of a slice (an empty int_pii_values). Import
both names into a test module: `from _keyed_fixtures import conn, plugin`."""
from __future__ import annotations

import duckdb
import pytest

from test_anonymize_engine import NO_REAL_VALUES, make_plugin


@pytest.fixture(scope="module")
def plugin(request):
    return make_plugin(request.module.SALT)


@pytest.fixture(scope="module")
def conn(plugin):
    conn = duckdb.connect()
    plugin.configure_connection(conn)
    conn.execute(NO_REAL_VALUES)
    yield conn
    conn.close()
