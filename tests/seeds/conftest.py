"""Fixtures of the seed pipelines: the local PostgreSQL server, an Airflow connection to it, tables
that exist for one test only, and an HTTP server on 127.0.0.1 that serves the input files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws.conftest import aws, subscribed_topic  # noqa: F401 (fixtures of the AWS examples)
from tests.http_server import TestServer

PG_HOST, PG_PORT, PG_DATABASE, PG_USER = "127.0.0.1", 5432, "test", "postgres"
CONN_ID = "seeds_pg"


class Postgres:
    """The test database: queries through psycopg2, and tables named for one test."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.tables: list[str] = []
        self.teardown: list[str] = []  # SQL run when the test ends, before the tables are dropped

    def table(self, kind: str) -> str:
        """A table name no other test (or test run) uses; dropped when the test ends."""
        name = f"seed_{kind}_{uuid.uuid4().hex[:10]}"
        self.tables.append(name)
        return name

    def execute(self, sql: str, parameters: Any = None) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, parameters)

    def rows(self, sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())

    def exists(self, table: str) -> bool:
        return self.rows("SELECT to_regclass(%s) IS NOT NULL", (table,))[0][0]

    def drop_all(self) -> None:
        for sql in self.teardown:
            self.execute(sql)
        for name in self.tables:
            self.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[Postgres]:
    """The PostgreSQL server at 127.0.0.1:5432 (database ``test``, trust auth), and the Airflow
    connection ``seeds_pg`` to it (an ``AIRFLOW_CONN_`` variable, seen by the steps' processes)."""
    import psycopg2

    try:
        connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=PG_USER, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"the seed pipeline tests need PostgreSQL at {PG_HOST}:{PG_PORT} (database {PG_DATABASE!r}, user "
            f"{PG_USER!r}, trust authentication), which is not reachable: {str(exc).strip()}. Start it, e.g. "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (.ci/run does this)."
        )
    connection.autocommit = True
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}")
    database = Postgres(connection)
    try:
        yield database
    finally:
        database.drop_all()
        connection.close()


@pytest.fixture
def files() -> Iterator[TestServer]:
    """An HTTP server on 127.0.0.1: put content into ``.files["/path"]``, fetch ``.url + "/path"``."""
    server = TestServer().start()
    try:
        yield server
    finally:
        server.stop()
