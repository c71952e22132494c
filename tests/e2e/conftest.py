"""Fixtures of the end-to-end tier shared by the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.e2e.browser import PageHandler, PageServer


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    """A `PageServer` on a free loopback port, for the test's duration."""
    server = PageServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
