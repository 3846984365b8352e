"""Service settings: pydantic-settings with a per-service env prefix and nested groups.

Nothing is read at import time; each service builds its settings object in its
factory (``Settings()``), so tests and the CLI can pass values explicitly.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    """Where the service's own PostgreSQL database lives."""

    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/jiesu"
    pool_size: int = 10
    max_overflow: int = 10
    # A round trip before every checkout. Off by default: a connection broken by a
    # database restart fails its one transaction (retried by consumers, a 503 for
    # the API) and is replaced; turn on where connections die silently (some proxies).
    pool_pre_ping: bool = False
    echo: bool = False


class KafkaSettings(BaseModel):
    """Broker connection and topic layout."""

    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = 6
    replication_factor: int = 1
    create_topics: bool = True
    max_retries: int = 3
    retry_backoff_ms: int = 200
    poll_max_records: int = 200
    # Events of one partition handled in one transaction (1: a transaction per event).
    transaction_max_records: int = 50
    fetch_max_wait_ms: int = 50
    # How long a produce may take, retries included. A send still retrying when the
    # broker comes back must not outlive the outage: see ``jiesu dev``'s broker restart.
    request_timeout_ms: int = 15_000
    # How often each process checks the broker's identity (cluster id) and reachability;
    # a failed check pauses the relay until the broker is verified again.
    probe_interval_s: float = 2.0
    # How often the acknowledged offsets are compared with the broker's end offsets while
    # nothing seems wrong (they are also compared after every outage and suspicion).
    verify_interval_s: float = 60.0
    # How long a silent member keeps its partitions. Brokers that ignore LeaveGroup (the
    # embedded Tansu) make a restarted member wait this long before it consumes again.
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000


class AuthSettings(BaseModel):
    """JWT verification (HS256, shared secret issued by the platform)."""

    jwt_secret: SecretStr = SecretStr("")
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "jiesu"
    jwt_audience: str = "jiesu"


class OutboxSettings(BaseModel):
    """Relay tuning and how long published rows are kept (the service's durable log)."""

    enabled: bool = True
    batch_size: int = 200
    poll_interval_s: float = 1.0
    # Published rows are kept this long so that a broker that lost them can be given them
    # again; must not exceed the inbox's retention, or a re-delivery could be applied twice.
    retention_days: float = 7.0
    prune_batch_size: int = 5000
    prune_interval_s: float = 600.0


class InboxSettings(BaseModel):
    """How long consumed event ids are remembered (re-delivery after that is impossible:
    offsets were committed long before)."""

    retention_days: int = 14
    sweep_interval_s: float = 600.0


class ServiceSettings(BaseSettings):
    """Base settings every service extends with its own env prefix."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    service_name: str = "jiesu"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    run_consumers: bool = True
    require_migrated: bool = True

    @model_validator(mode="after")
    def _inbox_outlives_outbox(self) -> ServiceSettings:
        # A re-published event older than the inbox's memory would be applied again.
        if self.outbox.retention_days > self.inbox.retention_days:
            raise ValueError(
                "outbox.retention_days must not exceed inbox.retention_days "
                f"({self.outbox.retention_days} > {self.inbox.retention_days})"
            )
        return self
