"""graph.published._retried: the API's reads retry what the driver would retry, only that."""

from __future__ import annotations

import asyncio

import neo4j
import pytest

from graph.published import _retried


def test_a_retryable_fault_is_tried_again_until_the_read_succeeds() -> None:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise neo4j.exceptions.SessionExpired("a pooled connection died with its server")
        return "answer"

    assert asyncio.run(_retried(work)) == "answer"
    assert len(calls) == 2


def test_a_fault_that_is_not_retryable_is_raised_at_once() -> None:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        raise neo4j.exceptions.CypherSyntaxError("not a query")

    with pytest.raises(neo4j.exceptions.CypherSyntaxError):
        asyncio.run(_retried(work))
    assert len(calls) == 1
