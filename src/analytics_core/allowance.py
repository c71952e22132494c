"""The allowance ledger: a site with allowance A accepts at most A events in its period;
periods are calendar months (UTC), each starting with the plan's monthly allowance.

Only events actually inserted are charged; duplicates and rejected records cost nothing, and
the allowance never goes below 0. Event stores apply this rule to the rows of a batch that are
not stored yet, in batch order, while they hold the site's row locked, so that concurrent
batches see each other's charges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import attrs


@attrs.frozen
class AllowanceSplit:
    """Which of a batch's new rows fit in their site's allowance (indexes into the rows)."""

    admitted: tuple[int, ...]
    excess: tuple[int, ...]

    def charges(self, site_ids: Sequence[str]) -> Counter[str]:
        """How much to take from each site's allowance: its admitted rows."""
        return Counter(site_ids[index] for index in self.admitted)


def split_by_allowance(site_ids: Sequence[str], remaining: Mapping[str, int]) -> AllowanceSplit:
    """Admit rows in order while their site has allowance left; the rest are excess.

    `site_ids[i]` is the site of the i-th new row; `remaining` the sites' current allowances
    (a site missing from it has none).
    """
    left = dict(remaining)
    admitted: list[int] = []
    excess: list[int] = []
    for index, site_id in enumerate(site_ids):
        if left.get(site_id, 0) > 0:
            left[site_id] -= 1
            admitted.append(index)
        else:
            excess.append(index)
    return AllowanceSplit(tuple(admitted), tuple(excess))


def sites_short_of_allowance(site_ids: Iterable[str], remaining: Mapping[str, int]) -> set[str]:
    """The sites whose rows in this batch outnumber their allowance; for the others every
    new row fits and no row-by-row decision is needed."""
    wanted = Counter(site_ids)
    return {site for site, count in wanted.items() if count > remaining.get(site, 0)}


# ---------------------------------------------------------------- periods


@attrs.frozen
class Plan:
    """A plan and the allowance each of its sites gets at the start of every monthly period."""

    plan: str
    monthly_allowance: int = attrs.field(validator=attrs.validators.ge(0))


def period_start(day: date) -> date:
    """The first day of the allowance period holding `day`: the first of its month (UTC)."""
    return day.replace(day=1)


def next_period_start(day: date) -> date:
    """The first day of the period after the one holding `day`."""
    if day.month == 12:
        return date(day.year + 1, 1, 1)
    return date(day.year, day.month + 1, 1)


def reset_due(started: date, today: date) -> bool:
    """Whether a period that started on `started` is over on `today` (a new one is due)."""
    return started < period_start(today)


def used_allowance(monthly_allowance: int, remaining: int) -> int:
    """What the current period has used: the plan's allowance minus what remains, never below
    0 (an operator may have granted more than the plan's)."""
    return max(monthly_allowance - remaining, 0)
