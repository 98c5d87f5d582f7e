"""Blob names that cannot escape their place.

A blob name comes from outside (an event's subject and URL, a listing of a container anyone
with write access can fill). HTTP stacks collapse `.` and `..` segments and Azure Storage reads
a backslash as a slash, so `raw/churn/../../training/x` would be fetched from another folder, or
another container, than the one the policy names. These checks refuse such names wherever a
name enters (the edge, the data-lake adapter, local staging): pure string rules, no I/O.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

MAX_BLOB_NAME = 1024  # Azure's limit, in characters


class BlobPathError(ValueError):
    """A blob name or prefix that could address something other than what it seems to."""


def _decoded_forms(name: str) -> list[str]:
    """The name as written and as every layer that percent-decodes it would see it
    (`%2e%2e` is `..` to a server that decodes once, `%252e%252e` to one that decodes twice)."""
    forms = [name]
    for _ in range(3):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def check_blob_path(name: str, *, what: str = "blob name", prefix: bool = False) -> str:
    """Return `name` if it is a plain relative blob name, else raise BlobPathError.

    Refused: empty names (unless `prefix`), a leading slash, backslashes, control characters,
    lone surrogates, empty segments and `.`/`..` segments in the name or in any percent-decoded
    form of it. With `prefix=True` an empty string and one trailing slash are allowed."""
    if not isinstance(name, str):
        raise BlobPathError(f"{what} must be a string, got {type(name).__name__}")
    if not name:
        if prefix:
            return name
        raise BlobPathError(f"{what} is empty")
    if len(name) > MAX_BLOB_NAME:
        raise BlobPathError(f"{what} is longer than {MAX_BLOB_NAME} characters")
    if has_lone_surrogate(name):
        raise BlobPathError(f"{what} {name!r} contains a lone surrogate (not valid Unicode)")
    for form in _decoded_forms(name):
        if _CONTROL.search(form):
            raise BlobPathError(f"{what} {name[:200]!r} contains a control character")
        if "\\" in form:
            raise BlobPathError(
                f"{what} {name[:200]!r} contains a backslash, which Azure Storage reads as '/'"
            )
        if form.startswith("/"):
            raise BlobPathError(f"{what} {name[:200]!r} must be relative (no leading '/')")
        body = form[:-1] if prefix and form.endswith("/") else form
        segments = body.split("/")
        if any(s in (".", "..") for s in segments):
            raise BlobPathError(
                f"{what} {name[:200]!r} has a '.' or '..' segment; it could address another "
                "folder or container once a server normalizes it"
            )
        if any(s == "" for s in segments):
            raise BlobPathError(f"{what} {name[:200]!r} has an empty segment ('//')")
    return name


def within_prefix(name: str, prefix: str) -> bool:
    """True when the (checked) name lies under `prefix`, compared segment-wise after the
    checks above, so `raw/churn-eu/x` is not under `raw/churn` unless the prefix says so."""
    if not isinstance(name, str) or not isinstance(prefix, str):
        return False
    return name.startswith(prefix) and _plain_prefix(prefix) and _plain_name(name)


# Routing asks within_prefix of every policy's prefix for every event: the string test runs first
# and the checks are memoised (pure functions of the string), so an event costs one name check.
@functools.lru_cache(maxsize=1024)
def _plain_prefix(prefix: str) -> bool:
    try:
        check_blob_path(prefix, what="prefix", prefix=True)
    except BlobPathError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _plain_name(name: str) -> bool:
    try:
        check_blob_path(name)
    except BlobPathError:
        return False
    return True


def has_lone_surrogate(text: str) -> bool:
    """A str holding U+D800..U+DFFF cannot be encoded as UTF-8 (JSON allows `\\ud800`;
    SQLite, HTTP headers and Azure do not)."""
    return _SURROGATE.search(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
