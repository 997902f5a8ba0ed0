from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http_server import TestServer


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer().start()
    yield srv
    srv.stop()
