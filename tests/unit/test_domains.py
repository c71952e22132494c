"""Domain normalisation and matching: what site owners register, what requests must match."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from analytics_core.domains import DomainError, host_matches, normalise_domain, request_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("https://example.com/", "example.com"),
        ("http://Example.com:8080/path?q=1#frag", "example.com"),
        ("example.com.", "example.com"),
        ("  www.example.com  ", "www.example.com"),
        ("//cdn.example.com/x", "cdn.example.com"),
        ("user:pw@example.com", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("https://МОСКВА.рф", "xn--80adxhks.xn--p1ai"),
        ("localhost", "localhost"),
        ("localhost:5173", "localhost"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_normalises_to_the_canonical_host(raw: str, expected: str) -> None:
    """Scheme, path, port, userinfo and the trailing dot go; case folds; IDN becomes punycode."""
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "127.0.0.1",
        "http://10.0.0.1:8080/",
        "[::1]",
        "::1",
        "2001:db8::1",
        "127.1",
        "0x7f.0.0.1",
        "example..com",
        ".example.com",
        "-example.com",
        "example-.com",
        "exa mple.com",
        "exa_mple.com",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "example.com..",
        "*.example.com",
    ],
)
def test_rejects_what_is_not_a_usable_host_name(raw: str) -> None:
    """IP literals, empty or over-long labels, bad characters and wildcards are refused."""
    with pytest.raises(DomainError):
        normalise_domain(raw)


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("example.com", True),
        ("www.example.com", True),
        ("a.b.example.com", True),
        ("evil-example.com", False),
        ("example.com.evil.net", False),
        ("notexample.com", False),
        ("example.co", False),
    ],
)
def test_matches_the_domain_and_its_subdomains_only(host: str, matches: bool) -> None:
    """A host matches a registered domain when equal to it or a subdomain of it."""
    assert host_matches(host, ["example.com"]) is matches


def test_request_host_reads_origin_and_referer_values() -> None:
    """Origin and Referer values reduce to the canonical host; garbage reduces to None."""
    assert request_host("https://WWW.Example.com:443") == "www.example.com"
    assert request_host("https://example.com./page?x=1") == "example.com"
    assert request_host("null") == "null"  # a sandboxed iframe's Origin: matches no site
    assert request_host("http://[::1]:8000/") is None
    assert request_host("") is None
    assert request_host(None) is None


hostname_chars = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.:/_ü[]@é")


@given(st.text(hostname_chars, max_size=40) | st.text(max_size=30))
def test_normalisation_is_idempotent(raw: str) -> None:
    """Whatever is accepted normalises to a fixed point: normalising again changes nothing."""
    try:
        once = normalise_domain(raw)
    except DomainError:
        return
    assert normalise_domain(once) == once


@given(st.text(hostname_chars, max_size=40) | st.text(max_size=30))
def test_accepted_hosts_have_no_empty_label_and_are_no_ip(raw: str) -> None:
    """An accepted host never has an empty label and never parses as an IP address."""
    try:
        host = normalise_domain(raw)
    except DomainError:
        return
    assert all(host.split("."))
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        ipaddress.ip_address(host)


@given(st.ip_addresses())
def test_ip_literals_are_never_accepted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    """Every IPv4 and IPv6 address, bare, bracketed or in a URL, is refused."""
    text = str(address)
    candidates = [text, f"http://{text}/", f"[{text}]", f"https://[{text}]:443/x"]
    if address.version == 4:
        candidates.append(f"{text}:8080")
    for candidate in candidates:
        with pytest.raises(DomainError):
            normalise_domain(candidate)


@given(st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){1,3}", fullmatch=True))
def test_subdomains_match_and_lookalikes_do_not(domain: str) -> None:
    """For any domain d: d and x.d match; xd and d.evil.net do not."""
    assume(len(domain) < 200)
    assert host_matches(domain, [domain])
    assert host_matches(f"x.{domain}", [domain])
    assert not host_matches(f"x{domain}", [domain])
    assert not host_matches(f"{domain}.evil.net", [domain])
