"""The redaction of e-mail and IP addresses from free texts (levels 0 and 1)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics_core.privacy import REDACTED, filter_pathname, filter_text, redact_text
from analytics_core.sites import ComplianceLevel

ADDRESSES = ["jane.doe@example.org", "x+tag@mail.test", "198.51.100.23", "2001:db8::1", "::1"]
around = st.text(alphabet=st.sampled_from("ab/?&=#;, -_.:%+Z0\n"), max_size=12)
# What ends a piece before or after an address (glued to digits, it is another number).
separator = st.sampled_from(["/", " ", "?", "=", "&", "#", ",", "\n", "|"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/users/jane.doe@example.org/profile", "/users/[redacted]/profile"),
        ("/hosts/198.51.100.23/ping", "/hosts/[redacted]/ping"),
        ("/v6/2001:db8::1", "/v6/[redacted]"),
        ("/u/jane.doe%40example.org", "/u/[redacted]"),
        ("signup:jane@example.org", "[redacted]"),
        ("/pricing", "/pricing"),
        ("/docs/v1.2/intro.html", "/docs/v1.2/intro.html"),
        ("/@jane", "/@jane"),
        ("12:30:45", "12:30:45"),
    ],
)
def test_each_piece_holding_an_address_is_redacted(text: str, expected: str) -> None:
    """A path segment or query piece with an address becomes [redacted]; the rest is kept."""
    assert redact_text(text) == expected


@given(
    before=st.tuples(around, separator).map("".join) | st.just(""),
    after=st.tuples(separator, around).map("".join) | st.just(""),
    address=st.sampled_from(ADDRESSES),
    encode=st.booleans(),
)
def test_no_address_survives_whatever_surrounds_it(
    before: str, after: str, address: str, encode: bool
) -> None:
    """An address anywhere in a text (as a piece of its own), percent-encoded or not, is gone
    after redaction, and redacting again changes nothing."""
    planted = quote(address, safe="") if encode else address
    result = redact_text(before + planted + after)
    assert address not in result
    assert quote(address, safe="") not in result
    assert redact_text(result) == result


@given(text=st.text(alphabet=st.characters(exclude_characters="@.:%"), max_size=30))
def test_texts_that_cannot_hold_an_address_are_kept(text: str) -> None:
    """Without `@ . : %` no address can be written, and the text is stored as sent."""
    assert redact_text(text) == text


def test_level_two_keeps_everything_and_levels_zero_and_one_redact() -> None:
    """The filter applies below level 2 only; a pathname also loses its query first."""
    text = "/u/jane.doe@example.org?x=1"
    assert filter_pathname(ComplianceLevel.NOT_REQUIRED, text) == text
    for level in (ComplianceLevel.REQUIRED, ComplianceLevel.MAYBE):
        assert filter_pathname(level, text) == "/u/" + REDACTED
        assert filter_text(level, "to 198.51.100.23") == "to " + REDACTED
    assert filter_text(ComplianceLevel.NOT_REQUIRED, "to 198.51.100.23") == "to 198.51.100.23"
