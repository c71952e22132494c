"""Host names: normalising the domains a site owner registers, and matching request hosts.

A registered domain is stored in one canonical form: lower case, ASCII (IDN in punycode), no
scheme, path, port or trailing dot. A request host matches a site when it equals one of the
site's domains or is a subdomain of one (`blog.example.com` matches `example.com`;
`evil-example.com` does not).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna

MAX_HOSTNAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class DomainError(ValueError):
    """A text that is not a usable host name; the message says why."""


def _strip_to_host(raw: str) -> str:
    text = raw.strip()
    text = _SCHEME.sub("", text, count=1)
    if text.startswith("//"):
        text = text[2:]
    for separator in "/?#":
        text = text.split(separator, 1)[0]
    text = text.rsplit("@", 1)[-1]  # userinfo never names the host
    if text.startswith("["):
        raise DomainError("IP addresses are not allowed")
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    elif text.count(":") > 1:
        raise DomainError("IP addresses are not allowed")
    return text[:-1] if text.endswith(".") else text  # one trailing dot: the FQDN form


def _to_ascii(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise DomainError(f"not a valid internationalised domain name ({exc})") from None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def normalise_domain(raw: str) -> str:
    """The canonical form of a registered domain; `DomainError` says why it is not one."""
    host = _strip_to_host(raw)
    if not host:
        raise DomainError("empty host name")
    if _is_ip_literal(host):
        raise DomainError("IP addresses are not allowed")
    host = _to_ascii(host)
    if len(host) > MAX_HOSTNAME_LENGTH:
        raise DomainError(f"longer than {MAX_HOSTNAME_LENGTH} characters")
    labels = host.split(".")
    for label in labels:
        if not label:
            raise DomainError("empty label")
        if len(label) > MAX_LABEL_LENGTH:
            raise DomainError(f"a label is longer than {MAX_LABEL_LENGTH} characters")
        if not _LABEL.fullmatch(label):
            raise DomainError(f"invalid label {label!r}")
    if labels[-1].isdigit() or _is_ip_literal(host):
        # An all-numeric top label is how IPv4 literals in odd spellings look (`127.1`).
        raise DomainError("IP addresses are not allowed")
    return host


def request_host(value: str | None) -> str | None:
    """The host of an Origin or Referer header value, in canonical form, else None."""
    if not value:
        return None
    try:
        return normalise_domain(value)
    except DomainError:
        return None


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """Whether canonical `host` is one of `domains` or a subdomain of one."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)
