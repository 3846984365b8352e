"""Service settings: pydantic-settings with a per-service env prefix and nested groups.

Nothing is read at import time; each service builds its settings object in its
factory (``Settings()``), so tests and the CLI can pass values explicitly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    """Where the service's own PostgreSQL database lives."""

    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/jiesu"
    # Connections kept open. Past them the pool opens overflow connections and closes them
    # again on return: under a burst that is a PostgreSQL backend forked, authenticated
    # and its statements prepared per request (seen in intake's profile at saturation as
    # a tenth of its CPU), so the kept pool covers what two cores can keep busy.
    pool_size: int = 20
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
    # How long the broker may hold a fetch while events flow. Tansu looks for records when
    # a fetch arrives and again each time half of the remaining wait has passed (at W/2,
    # 3W/4, ...), answering at the first look that finds any; each look costs it about
    # 0.4 ms plus 0.5 ms per topic asked for. While events flow a consumer's fetch is
    # answered at about its second look, so the broker's cost follows 1/W. Consumers on the
    # path a resident's complaint waits on (dispatch, department) hold 50 ms; the status
    # view residents look at (intake) 250 ms; groups nobody waits on (scorecards, the
    # callback desk's pending list, model announcements: ``ConsumerSpec.background``) as
    # long as an idle consumer, ``fetch_max_wait_idle_ms``. A critical group's topics it
    # rarely acts on (``ConsumerSpec.slow_topics``: the router's units' and reviews' events,
    # department's filings) are paused while events flow and read in one fetch every
    # ``slow_topics_window_ms``, so they neither wake its short fetches nor make each dearer.
    fetch_max_wait_ms: int = 50
    fetch_max_wait_relaxed_ms: int = 250
    slow_topics_window_ms: int = 500
    # Handled offsets are committed to the broker at most this often (and on a rebalance
    # and on stop): one request a second instead of one per poll. A crash re-reads at most
    # this interval's events, which the inbox drops.
    commit_interval_ms: int = 1000
    # After ``fetch_idle_after_s`` without a record a consumer asks the broker to hold its
    # fetches this long instead: an idle platform then costs next to nothing, and the first
    # event after a quiet spell waits up to half of it (Tansu's second look). A trade,
    # measured (bench idle phase, one complaint after 9 s of
    # quiet), 500 ms → idle stack 10.5 % of a core, filed → assigned 0.3 s; 1,000 → 7.6 %,
    # about 0.55 s; 2,000 → 7.1 %, 1.05 s.
    fetch_max_wait_idle_ms: int = 1000
    fetch_idle_after_s: float = 5.0
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


# The services that call others with their own identity (the console uses the user's token).
SERVICE_NAMES = ("intake", "dispatch", "department", "review", "metrics")


class AuthSettings(BaseModel):
    """Who may call: OpenID Connect access tokens in production, HS256 ones in development.

    ``mode`` ``development``: tokens signed with ``jwt_secret`` (HS256, `jiesu token`,
    `jiesu dev`) are accepted, and services call each other with such tokens naming
    themselves. ``production``: HS256 is refused; access tokens come from ``oidc_issuer``
    (RS256/ES256, keys from its JWKS), and each service gets its own token from the issuer
    with the client-credentials grant (``client_id`` / ``client_secret``).
    """

    mode: Literal["development", "production"] = "development"
    jwt_secret: SecretStr = SecretStr("")
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "jiesu"
    jwt_audience: str = "jiesu"
    # OpenID Connect: the issuer's URL (its /.well-known/openid-configuration is read).
    oidc_issuer: str = ""
    oidc_audience: str = "jiesu"
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    # The JWKS when it is not the discovered one; its keys are cached this long, and
    # fetched again at once for a token signed with an unknown key (a rotation).
    oidc_jwks_url: str = ""
    oidc_jwks_cache_s: int = 300
    # At most one extra fetch per this many seconds for unknown keys (forged kids).
    oidc_jwks_cooldown_s: float = 10.0
    leeway_s: float = 30.0
    # Where role and unit are in the token: a dotted path to a string or a list, e.g.
    # Keycloak's ``realm_access.roles`` or ``resource_access.jiesu.roles``, or flat ``role``.
    role_claim: str = "role"
    unit_claim: str = "unit_id"
    grid_claim: str = "grid_code"  # a grid worker's grid
    # A token is a Jiesu service's when this claim (the OAuth client) names one of
    # ``service_clients`` (client id → service name).
    service_claim: str = "azp"
    service_clients: dict[str, str] = Field(
        default_factory=lambda: {f"jiesu-{name}": name for name in SERVICE_NAMES}
    )
    # This service's own OAuth client, for its calls to the others (production).
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    # Built on first use by jiesu_common.identity: the key cache and this service's token.
    _verifier: Any = PrivateAttr(default=None)
    _credentials: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def development(self) -> bool:
        """Whether HS256 development tokens are accepted."""
        return self.mode == "development"


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
