"""Credentials and the provider the clients consult on every request.

FC hands STS credentials to a function in two ways: on older runtimes (python3.10 and before) as
`context.credentials` of the current invocation, otherwise in the environment
(`ALIBABA_CLOUD_ACCESS_KEY_ID`, `..._SECRET`, `..._SECURITY_TOKEN`). STS tokens expire, so nothing
is cached here: each request asks the provider, and after `InvalidSecurityToken.Expired` the
client calls `refresh()` and signs the retry with whatever the provider returns then.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from ..core.errors import ConfigurationError
from ..core.values import immutable

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 - a variable name

CREDENTIAL_ENV_NAMES = frozenset({ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN})


def without_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` without the AccessKey variables: the copy an instance keeps for its
    settings must not hold keys FC rotates (they are read from the live environment instead)."""
    return {k: v for k, v in environ.items() if k not in CREDENTIAL_ENV_NAMES}


_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "access_key_id": ("access_key_id", "accessKeyId", "AccessKeyId"),
    "access_key_secret": ("access_key_secret", "accessKeySecret", "AccessKeySecret"),
    "security_token": ("security_token", "securityToken", "SecurityToken"),
}


@immutable
class Credentials:
    """An AccessKey pair, with the STS token when the keys are temporary."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None

    def __repr__(self) -> str:
        token = "<redacted>" if self.security_token else None
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, access_key_secret=<redacted>, "
            f"security_token={token})"
        )

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """The values that must never reach a log line or an error message."""
        return tuple(s for s in (self.access_key_secret, self.security_token) if s)


class CredentialsSource(Protocol):
    """What a client needs: current credentials, and a way to ask again after an expiry."""

    def get(self) -> Credentials: ...

    def refresh(self) -> Credentials: ...


class StaticCredentialsProvider:
    """Fixed credentials (tests, the CLI with explicit keys)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get(self) -> Credentials:
        return self._credentials

    def refresh(self) -> Credentials:
        return self._credentials

    def __repr__(self) -> str:
        return f"StaticCredentialsProvider({self._credentials!r})"


def _field(obj: Any, name: str) -> str | None:
    for alias in _FIELD_ALIASES[name]:
        value = obj.get(alias) if isinstance(obj, Mapping) else getattr(obj, alias, None)
        if isinstance(value, str) and value:
            return value
    return None


def credentials_from_context(context: Any) -> Credentials | None:
    """`context.credentials` of an FC invocation, or None when the runtime does not provide it."""
    raw = getattr(context, "credentials", None) if context is not None else None
    if raw is None:
        return None
    key_id = _field(raw, "access_key_id")
    secret = _field(raw, "access_key_secret")
    if not key_id or not secret:
        return None
    return Credentials(key_id, secret, _field(raw, "security_token"))


def credentials_from_env(environ: Mapping[str, str]) -> Credentials | None:
    key_id = environ.get(ENV_ACCESS_KEY_ID, "").strip()
    secret = environ.get(ENV_ACCESS_KEY_SECRET, "").strip()
    if not key_id or not secret:
        return None
    token = environ.get(ENV_SECURITY_TOKEN, "").strip() or None
    return Credentials(key_id, secret, token)


class CredentialsProvider:
    """The invocation context's credentials when present, else the environment; read every time.

    The current invocation context is kept in a context variable, so concurrent invocations on
    different threads of one instance each see their own. `env` defaults to `os.environ`
    (read at call time); `reload` is an optional hook `refresh()` runs first (e.g. to re-read a
    credentials file or call STS).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        reload: Callable[[], None] | None = None,
    ) -> None:
        self._environ = env
        self._reload = reload
        self._context: contextvars.ContextVar[Any] = contextvars.ContextVar(
            f"fc_context_{id(self)}", default=None
        )

    def set_context(self, context: Any) -> None:
        """Make `context` (FC's second handler argument) the current invocation's context."""
        self._context.set(context)

    def clear_context(self) -> None:
        self._context.set(None)

    @contextmanager
    def invocation(self, context: Any) -> Iterator[None]:
        """Use `context` for the duration of one invocation."""
        token = self._context.set(context)
        try:
            yield
        finally:
            self._context.reset(token)

    def get(self) -> Credentials:
        found = credentials_from_context(self._context.get())
        if found is None:
            found = credentials_from_env(os.environ if self._environ is None else self._environ)
        if found is None:
            raise ConfigurationError(
                "No credentials: neither context.credentials nor "
                f"{ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} are set",
                hint="Give the function a role (FC injects STS credentials), or set "
                f"{ENV_ACCESS_KEY_ID}, {ENV_ACCESS_KEY_SECRET} and {ENV_SECURITY_TOKEN}",
            )
        return found

    def refresh(self) -> Credentials:
        """Re-read the sources after the service said the token expired."""
        if self._reload is not None:
            self._reload()
        return self.get()

    def __repr__(self) -> str:
        return "CredentialsProvider(context or environment)"


def as_credentials_source(credentials: CredentialsSource | Credentials | None) -> CredentialsSource:
    """What a client consults on every request: fixed keys wrapped, or the default provider."""
    if isinstance(credentials, Credentials):
        return StaticCredentialsProvider(credentials)
    return credentials or CredentialsProvider()
