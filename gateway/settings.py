"""Settings read from the environment (and `.env`), validated once at start-up."""

import os
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.eventloop import EventLoopName

PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev-secret-key", "dev-lookup-key"}
)


class InsecureSettingsError(ValueError):
    """Raised when production mode is asked to run with placeholder secrets."""


MAX_IMPORT_WORKERS = 32


def default_import_workers() -> int:
    """One per CPU this process may run on. They run at a lower priority than the gateway's
    process (`crm.importer.runtime`), which writes the import: on 2 CPUs, two such workers
    imported 100,000 rows in 3.2 to 3.5 s, one in 3.3 to 3.9 s, and two at the gateway's own
    priority in 3.8 to 4.4 s."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(MAX_IMPORT_WORKERS, max(1, cpus))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["dev", "production"] = Field("dev", alias="DIALGATE_ENV")
    database_url: str = Field("sqlite+aiosqlite:///./dialgate.db", alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    public_base_url: str = Field("http://127.0.0.1:8080", alias="PUBLIC_BASE_URL")
    default_region: str = Field("IN", alias="DEFAULT_REGION")
    # Keys the digests of API tokens at rest (a stolen database yields no usable token).
    secret_key: str = Field("dev-secret-key", alias="SECRET_KEY")
    # Key of the blind index used to match phone numbers without reading the raw column.
    lookup_key_secret: str = Field("dev-lookup-key", alias="LOOKUP_KEY_SECRET")
    token_ttl_hours: int = Field(24 * 30, alias="TOKEN_TTL_HOURS", ge=1)
    # Comma-separated proxy addresses whose X-Forwarded-Proto/Host are believed when
    # rebuilding the public URL a carrier signed; everyone else gets PUBLIC_BASE_URL.
    trusted_proxies: str = Field("", alias="TRUSTED_PROXIES")
    # The built-in sandbox carrier's API (/sandbox-carrier); on by default only in dev mode,
    # since it posts signed callbacks to any URL it is given.
    sandbox_enabled: bool | None = Field(None, alias="SANDBOX_ENABLED")
    # Seconds of simulated time per real second for the sandbox carrier (20 = twenty times faster).
    sandbox_speed: float = Field(1.0, alias="SANDBOX_SPEED", gt=0)
    # Base URL of the sandbox carrier's REST API; empty means the one built into this gateway.
    sandbox_api_url: str = Field("", alias="SANDBOX_API_URL")
    twilio_api_base_url: str = Field("https://api.twilio.com", alias="TWILIO_API_BASE_URL")
    outbound_timeout_s: float = Field(10.0, alias="OUTBOUND_TIMEOUT_S", gt=0)
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = Field(3, alias="ARGON2_TIME_COST", ge=1)
    argon2_memory_cost_kib: int = Field(65536, alias="ARGON2_MEMORY_COST_KIB", ge=8)
    # A Redis consumer's unacknowledged webhooks go to another process after this idle time.
    applier_reclaim_idle_ms: int = Field(30_000, alias="APPLIER_RECLAIM_IDLE_MS", ge=10)
    # With Redis one process applies webhooks at a time (in order); it holds a lease this long.
    applier_lease_ms: int = Field(5_000, alias="APPLIER_LEASE_MS", ge=100)
    # false: this web process only stores webhooks and hands them over the Redis stream;
    # `dialgate applier` processes apply them (needs REDIS_URL).
    applier_in_process: bool = Field(True, alias="APPLIER_IN_PROCESS")
    # Pending inbox rows older than this are re-queued (and the sweep runs this often).
    inbox_sweep_interval_s: float = Field(15.0, alias="INBOX_SWEEP_INTERVAL_S", gt=0)
    # Reconciliation: a call silent this long is checked with its carrier (every interval);
    # one the carrier cannot describe is settled as failed after the give-up time.
    reconcile_after_s: float = Field(300.0, alias="RECONCILE_AFTER_S", gt=0)
    reconcile_interval_s: float = Field(60.0, alias="RECONCILE_INTERVAL_S", gt=0)
    reconcile_give_up_s: float = Field(4 * 3600.0, alias="RECONCILE_GIVE_UP_S", gt=0)
    # How often open follow-ups that came due are looked for (and their agents reminded).
    followup_sweep_interval_s: float = Field(15.0, alias="FOLLOWUP_SWEEP_INTERVAL_S", gt=0)
    # Largest webhook body accepted (carriers send a few KiB).
    webhook_max_bytes: int = Field(256 * 1024, alias="WEBHOOK_MAX_BYTES", ge=1024)
    # Redis pub/sub channel of the Socket.IO manager (one per deployment sharing a Redis);
    # also the prefix of Dialgate's other Redis keys.
    socketio_channel: str = Field("dialgate", alias="SOCKETIO_CHANNEL")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    # The event loop of `dialgate serve`, `demo` and `applier`: uvloop when installed (auto).
    event_loop: EventLoopName = Field("auto", alias="EVENT_LOOP")
    # `dialgate serve` processes sharing the port (SO_REUSEPORT, Linux); above 1 needs REDIS_URL
    # and PostgreSQL. `--processes` overrides it.
    web_processes: int = Field(1, alias="WEB_PROCESSES", ge=1, le=256)
    # Outgoing webhooks: how often the outbox is polled, the wait for a receiver's answer,
    # sends at once (in all, and to one receiver, so one slow receiver cannot hold them all),
    # the retry schedule in seconds (its last step repeats; jittered) and the attempts before
    # a delivery is given up as dead.
    webhook_out_poll_s: float = Field(1.0, alias="WEBHOOK_OUT_POLL_S", gt=0)
    webhook_out_timeout_s: float = Field(10.0, alias="WEBHOOK_OUT_TIMEOUT_S", gt=0)
    webhook_out_concurrency: int = Field(32, alias="WEBHOOK_OUT_CONCURRENCY", ge=1)
    webhook_out_per_receiver: int = Field(4, alias="WEBHOOK_OUT_PER_RECEIVER", ge=1)
    webhook_out_backoff_s: str = Field("5,30,120,600,1800,3600", alias="WEBHOOK_OUT_BACKOFF_S")
    webhook_out_max_attempts: int = Field(8, alias="WEBHOOK_OUT_MAX_ATTEMPTS", ge=1)
    # Dialer: an agent whose sockets are all gone (or silent) this long goes offline.
    presence_grace_s: float = Field(30.0, alias="PRESENCE_GRACE_S", gt=0)
    # Progressive dialing: seconds between offering the next lead and dialing it.
    progressive_countdown_s: float = Field(5.0, alias="PROGRESSIVE_COUNTDOWN_S", ge=0)
    # The queue retries a busy / no-answer lead only this long after its last attempt...
    retry_backoff_s: float = Field(1800.0, alias="RETRY_BACKOFF_S", ge=0)
    # ... and never once it has had this many attempts in all.
    max_total_attempts: int = Field(10, alias="MAX_TOTAL_ATTEMPTS", ge=1)
    # Where uploaded files wait for their background job (lead imports), created on demand.
    data_dir: str = Field("./var", alias="DATA_DIR")
    # Largest lead import file accepted (streamed to disk, never held in memory).
    import_max_bytes: int = Field(200 * 1024**2, alias="IMPORT_MAX_BYTES", ge=1024)
    # Rows per import transaction: the unit of progress, checkpoint and crash recovery.
    import_chunk_rows: int = Field(10_000, alias="IMPORT_CHUNK_ROWS", ge=1, le=20_000)
    # Processes that parse an import's phone numbers in parallel; 0: in this process.
    import_workers: int = Field(
        default_factory=lambda: default_import_workers(),
        alias="IMPORT_WORKERS",
        ge=0,
        le=MAX_IMPORT_WORKERS,
    )

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> "Settings":
        if self.env == "production":
            for name in ("secret_key", "lookup_key_secret"):
                value = getattr(self, name)
                if value in PLACEHOLDER_SECRETS or len(value) < 16:
                    raise InsecureSettingsError(
                        f"{name.upper()} must be set to a random value of 16+ characters "
                        "outside dev mode"
                    )
        return self

    @model_validator(mode="after")
    def _applier_somewhere(self) -> "Settings":
        if not self.applier_in_process and not self.redis_url:
            # Without Redis, rows reach the applier only through this process's own queue.
            raise ValueError(
                "APPLIER_IN_PROCESS=false needs REDIS_URL (webhooks reach `dialgate applier` "
                "processes through a Redis stream); without Redis the applier runs in-process"
            )
        return self

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("webhook_out_backoff_s")
    @classmethod
    def _backoff_schedule(cls, value: str) -> str:
        try:
            steps = [float(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise ValueError("must be comma-separated seconds") from None
        if not steps or any(x <= 0 for x in steps):
            raise ValueError("must be one or more positive numbers of seconds")
        return value

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @property
    def sandbox_api_enabled(self) -> bool:
        """SANDBOX_ENABLED, defaulting to on in dev mode only."""
        return self.env == "dev" if self.sandbox_enabled is None else self.sandbox_enabled

    @property
    def webhook_out_backoff(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.webhook_out_backoff_s.split(",") if x.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def proxies(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())
