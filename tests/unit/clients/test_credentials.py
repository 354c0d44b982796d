"""Credentials: redaction, context first then environment, read on every call, refresh."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from dts_change.clients.credentials import (
    Credentials,
    CredentialsProvider,
    StaticCredentialsProvider,
    credentials_from_context,
)
from dts_change.core.errors import ConfigurationError

ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret",
    "ALIBABA_CLOUD_SECURITY_TOKEN": "env-token",
}


def _context(key_id: str = "ctx-id", secret: str = "ctx-secret", token: str | None = "ctx-token") -> object:
    return SimpleNamespace(
        credentials=SimpleNamespace(access_key_id=key_id, access_key_secret=secret, security_token=token)
    )


def test_credentials_repr_and_str_redact_secret_and_token() -> None:
    creds = Credentials("LTAIid", "very-secret", "sts-token-value")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "very-secret" not in text
        assert "sts-token-value" not in text
        assert "LTAIid" in text


def test_credentials_secrets_lists_secret_and_token_only() -> None:
    assert Credentials("id", "s", "t").secrets() == ("s", "t")
    assert Credentials("id", "s").secrets() == ("s",)


def test_provider_env_only_reads_environment() -> None:
    provider = CredentialsProvider(ENV)
    assert provider.get() == Credentials("env-id", "env-secret", "env-token")


def test_provider_env_without_token_gives_long_term_keys() -> None:
    env = {k: val for k, val in ENV.items() if "TOKEN" not in k}
    assert CredentialsProvider(env).get().security_token is None


def test_provider_context_present_wins_over_environment() -> None:
    provider = CredentialsProvider(ENV)
    provider.set_context(_context())
    assert provider.get() == Credentials("ctx-id", "ctx-secret", "ctx-token")


def test_provider_context_without_credentials_falls_back_to_env() -> None:
    provider = CredentialsProvider(ENV)
    provider.set_context(SimpleNamespace(request_id="r"))
    assert provider.get().access_key_id == "env-id"


def test_provider_context_mapping_with_camel_case_keys_accepted() -> None:
    ctx = SimpleNamespace(credentials={"accessKeyId": "a", "accessKeySecret": "b", "securityToken": "c"})
    assert credentials_from_context(ctx) == Credentials("a", "b", "c")


def test_provider_invocation_context_manager_restores_previous() -> None:
    provider = CredentialsProvider(ENV)
    with provider.invocation(_context()):
        assert provider.get().access_key_id == "ctx-id"
    assert provider.get().access_key_id == "env-id"


def test_provider_clear_context_goes_back_to_env() -> None:
    provider = CredentialsProvider(ENV)
    provider.set_context(_context())
    provider.clear_context()
    assert provider.get().access_key_id == "env-id"


def test_provider_context_is_per_thread() -> None:
    # GIVEN a context set on the main thread
    provider = CredentialsProvider(ENV)
    provider.set_context(_context())
    seen: list[str] = []
    # WHEN another thread asks
    worker = threading.Thread(target=lambda: seen.append(provider.get().access_key_id))
    worker.start()
    worker.join(timeout=5)
    # THEN it does not see the main thread's invocation
    assert seen == ["env-id"]


def test_provider_reads_environment_on_every_call() -> None:
    env = dict(ENV)
    provider = CredentialsProvider(env)
    first = provider.get()
    env["ALIBABA_CLOUD_SECURITY_TOKEN"] = "rotated"
    assert first.security_token == "env-token"
    assert provider.get().security_token == "rotated"


def test_provider_refresh_runs_reload_hook_then_rereads() -> None:
    env = dict(ENV)

    def reload() -> None:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = "fresh"

    provider = CredentialsProvider(env, reload=reload)
    assert provider.refresh().security_token == "fresh"


def test_provider_nothing_configured_raises_configuration_error_naming_variables() -> None:
    with pytest.raises(ConfigurationError) as info:
        CredentialsProvider({}).get()
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in str(info.value)
    assert info.value.retryable is False


def test_provider_default_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert CredentialsProvider().get().access_key_id == "env-id"


def test_static_provider_repr_redacts() -> None:
    provider = StaticCredentialsProvider(Credentials("id", "sec-ret", "tok-en"))
    assert provider.refresh() == provider.get()
    assert "sec-ret" not in repr(provider)
    assert "tok-en" not in repr(provider)
