"""Secrets kept out of what metacot writes and prints: the API key in a server's error text, credentials in URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

HIDDEN = "***"
# A query parameter that carries a credential: its name is one of these words, or ends or starts with one after _ or -
# (api_key, access_token, X-Amz-Signature, client_secret, ...).
CREDENTIAL = re.compile(
    r"(?:^|[_-])(?:key|apikey|token|secret|password|passwd|pwd|sig|signature|auth|credential|credentials|session)"
    r"(?:$|[_-])",
    re.IGNORECASE,
)
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>,]+", re.IGNORECASE)  # not past a comma: base_url's separator
AUTHORIZATION = re.compile(r"\b(Bearer|Basic|Token)(\s+)[^\s'\",;}\]]+", re.IGNORECASE)


def safe_url(url: str) -> str:
    """The URL without its user and password (user:pass@) and without query parameters that carry credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL a client could use either: shown without anything after the host's start
        return url.split("://", 1)[0] + "://" + HIDDEN if "://" in url else url
    netloc = parts.netloc.rpartition("@")[2]
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if not _credential(name)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries: its password, the values of its credential query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password, unquote(parts.password or "")]
    return [x for x in found if x] + [value for name, value in parse_qsl(parts.query) if _credential(name) and value]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with each secret, any Authorization value (Bearer, Basic, Token) and every URL's credentials hidden."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = AUTHORIZATION.sub(lambda m: f"{m.group(1)}{m.group(2)}{HIDDEN}", text)
    return URL.sub(lambda m: safe_url(m.group(0)), text)


def safe_settings(value: Any) -> Any:
    """Settings (nested dicts and lists) with the credentials of every URL in their strings hidden, for a manifest or
    a dataset card."""
    if isinstance(value, dict):
        return {key: safe_settings(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [safe_settings(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return redact(value)
    return value


def _credential(name: str) -> bool:
    return bool(CREDENTIAL.search(name))
