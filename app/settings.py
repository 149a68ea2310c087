"""The one source of configuration: BACKCHANNEL_* environment variables into a Settings object."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Defaults are the embedded mode: a SQLite file under ./var and an in-process broker."""

    model_config = SettingsConfigDict(env_prefix="BACKCHANNEL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/backchannel.db"
    broker_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = False
    # Run ingest and clustering inside the web process (embedded mode); False for `serve --no-workers`.
    pipeline_in_process: bool = True
    # ...with clustering in a child process (its own core; see app.pipeline.cluster_process), or on the
    # server's event loop when False.
    cluster_process: bool = True
    admin_token: str | None = None  # when set, creating an event needs it
    ingest_reconcile_seconds: float = Field(default=3.0, gt=0)  # how soon source changes take effect

    # Live delivery
    ws_queue_size: int = Field(default=512, ge=8)  # frames buffered per socket before it is cut off
    ws_heartbeat_seconds: float = Field(default=15.0, gt=0)
    ws_max_message_bytes: int = Field(default=4096, ge=64)
    ws_max_connections_per_ip: int = Field(default=256, ge=0)  # 0 = unlimited; venues put many behind one NAT
    # Browser origins, besides this site itself, whose pages may open the live WebSocket (comma-separated).
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)  # request bodies; schedule uploads use schedule_max_bytes
    live_ring_size: int = Field(default=5000, ge=10)  # recent frames per event kept in memory for resume
    live_log_retention: int = Field(default=100_000, ge=100)  # frames per event kept in the database
    broker_history: int = Field(default=10_000, ge=10)  # messages per channel the broker retains
    broker_max_age_seconds: float | None = Field(default=None, gt=0)  # Redis: also trim stream entries older than this
    # PostgreSQL pool per process: replicas x (size + overflow) + workers must stay under max_connections (100).
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)

    # Organizers
    schedule_max_bytes: int = Field(default=20_000_000, ge=1000)  # uploaded or fetched schedule files
    schedule_fetch_timeout: float = Field(default=30.0, gt=0)
    schedule_fetch_allow_private: bool = False  # allow schedule URLs on loopback/private addresses (tests)
    schedule_schema_dir: str | None = None  # c3voc schemas; problems they find become import warnings
    exports_public: bool = True  # summaries of public posts; False makes exports organizer-only
    # Per-client rate limits (the `limits` library's notation, e.g. "10/minute;100/hour").
    rate_limit_posts: str = "30/minute;600/hour"
    rate_limit_votes: str = "120/minute"
    rate_limit_exports: str = "30/minute"
    # Per network address, whatever client ids it sends (a client picks its own id, so the per-client limits
    # alone stop nobody who changes it). A venue's NAT carries a hall of phones: these are a crowd's ceilings.
    rate_limit_posts_per_address: str = "600/minute"
    rate_limit_votes_per_address: str = "2400/minute"
    # Exports are drawn in a worker of a small pool: a client changing its id queued prints without end.
    rate_limit_exports_per_address: str = "120/minute"
    # Creating events per address while anyone may (no BACKCHANNEL_ADMIN_TOKEN set).
    rate_limit_events_per_address: str = "10/hour"

    # Demo
    demo_speed: float = Field(default=5.0, gt=0)  # pace multiplier: 1 is a realistic 12 posts a minute
    demo_seed: int = 7
    demo_slug: str = "democon"

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # People paste plain DSNs; the app needs the async drivers.
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            scheme = url.split("://", 1)[0] if "://" in url else url
            raise ValueError(f"unsupported database {scheme!r}; use sqlite:///PATH or postgresql://USER@HOST/DB")
        return url

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, url: str) -> str:
        # checked here, not when the server starts: a misspelt broker stopped it with a traceback
        if url.split("://", 1)[0].lower() not in ("memory", "redis", "rediss") or "://" not in url:
            raise ValueError(f"unsupported broker {url!r}; use memory:// or redis://HOST:PORT/DB")
        return url

    @field_validator(
        "rate_limit_posts",
        "rate_limit_votes",
        "rate_limit_exports",
        "rate_limit_posts_per_address",
        "rate_limit_votes_per_address",
        "rate_limit_exports_per_address",
        "rate_limit_events_per_address",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # raises ValueError naming what it could not read
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or ":memory:" in self.database_url:
            return None
        return Path(self.database_url.split("///", 1)[1])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Only entry points call this; tests build Settings(...) explicitly."""
    return Settings()
