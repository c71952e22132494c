"""`deadline`: a statement cancelled by its timeout is `QueryTimeoutError` naming what ran;
any other store failure goes up unchanged."""

from __future__ import annotations

import psycopg
import pytest

from adapters.postgres.pool import deadline
from analytics_core.errors import QueryTimeoutError, StoreUnavailableError


def test_a_cancelled_statement_is_a_query_timeout() -> None:
    timeout = pytest.raises(QueryTimeoutError, match="the realtime query passed its deadline")
    with timeout, deadline("the realtime query"):
        raise StoreUnavailableError("x") from psycopg.errors.QueryCanceled("cancelled")


def test_other_failures_go_up_unchanged() -> None:
    with pytest.raises(StoreUnavailableError), deadline("the hot-store query"):
        raise StoreUnavailableError("x") from psycopg.OperationalError("gone")
