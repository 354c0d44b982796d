"""OSS names both sides check: the OSS client before it signs a request, intake before it
trusts an event or a URL. Here, below both, so that neither imports the other."""

from __future__ import annotations

import re

from .errors import short_repr

# An OSS version id is an opaque token the service hands out (base64, e.g. `CAEQNhiBgM...`, or
# `null` for the version written before versioning was enabled; `_ -` allow URL-safe base64). It comes from events and URLs,
# so it is untrusted: only these characters and this length are sent on (a signed query value).
MAX_VERSION_ID_CHARS = 255
_VERSION_ID_RE = re.compile(r"^[A-Za-z0-9+/=_-]+$")


def version_id_problem(value: object) -> str | None:
    """Why `value` cannot be an OSS version id, or None when it can."""
    if not isinstance(value, str) or not value:
        return "expected a non-empty string"
    if len(value) > MAX_VERSION_ID_CHARS:
        return f"it is {len(value)} characters long; at most {MAX_VERSION_ID_CHARS} are accepted"
    if not _VERSION_ID_RE.fullmatch(value):
        return f"{short_repr(value)} has characters other than A-Z a-z 0-9 + / = _ -"
    return None
