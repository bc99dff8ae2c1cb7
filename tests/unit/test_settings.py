"""Settings: environment parsing and the refusal of placeholder secrets outside dev mode."""

import os

import pytest

from gateway.settings import Settings


def test_dev_mode_runs_with_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.env == "dev"
    assert settings.database_url.startswith("sqlite+aiosqlite")
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("secret", "lookup"),
    [
        ("dev-secret-key", "a-real-random-lookup-key-value"),
        ("a-real-random-secret-key-value", "dev-lookup-key"),
        ("change-me", "a-real-random-lookup-key-value"),
        ("short", "a-real-random-lookup-key-value"),
    ],
)
def test_production_refuses_placeholder_secrets(secret: str, lookup: str) -> None:
    with pytest.raises(ValueError, match="must be set"):
        Settings(
            _env_file=None, DIALGATE_ENV="production", SECRET_KEY=secret, LOOKUP_KEY_SECRET=lookup
        )


def test_production_accepts_real_secrets_and_reads_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIALGATE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    monkeypatch.setenv("LOOKUP_KEY_SECRET", "l" * 32)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://calls.example.com/")
    monkeypatch.setenv("DEFAULT_REGION", "gb")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = Settings(_env_file=None)
    assert settings.public_base_url == "https://calls.example.com"
    assert settings.default_region == "GB"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("cpus", "workers"), [({0}, 1), ({0, 1}, 2), (set(range(8)), 8), (set(range(64)), 32)]
)
def test_import_workers_are_one_per_usable_cpu(
    monkeypatch: pytest.MonkeyPatch, cpus: set[int], workers: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: cpus, raising=False)
    monkeypatch.delenv("IMPORT_WORKERS", raising=False)
    assert Settings(_env_file=None).import_workers == workers
    # Set explicitly, it is kept (0: no parsing processes).
    monkeypatch.setenv("IMPORT_WORKERS", "0")
    assert Settings(_env_file=None).import_workers == 0
