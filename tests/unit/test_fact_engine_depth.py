"""The fact-block engine gives the hand-computed answers of the query depth cases
(tests/support/depth_data.py: entry and exit pages, `property:<key>`, the four operators with
alternatives, percentage, conversions, New York's local days and its 23- and 25-hour days)
from blocks built in memory (tests/integration/test_fact_blocks_depth.py: from PostgreSQL)."""

from __future__ import annotations

import pytest
from tests.support.depth_data import ALL_EVENTS, ALL_INITIAL_EVENTS, CASES, DepthCase, answer
from tests.support.fact_blocks import MemoryBlocks


@pytest.fixture(scope="module")
def engine() -> MemoryBlocks:
    return MemoryBlocks(ALL_EVENTS, ALL_INITIAL_EVENTS)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_engine_gives_the_hand_computed_answers(engine: MemoryBlocks, case: DepthCase) -> None:
    """Each case's answer from blocks built in memory is the hand-computed one."""
    assert answer(engine, case) == case.expected(), case.about
