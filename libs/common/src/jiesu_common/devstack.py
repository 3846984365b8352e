"""``jiesu dev``: the whole platform on one machine, on the embedded stack.

Starts embedded PostgreSQL and the Tansu broker on free ports, migrates and seeds every
service's database, starts each service as its own process, writes development tokens,
supervises all of it (whatever dies is started again, with a bounded backoff), and on
Ctrl-C stops the services first (they drain their outboxes), then the broker, then
PostgreSQL. Data lives under ``.jiesu/``; the broker keeps nothing on disk: after it
restarts, each service's broker guard re-publishes what the outbox retained.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.embedded import EmbeddedBroker, EmbeddedPostgres, remove_tree
from jiesu_common.settings import AuthSettings


@dataclass(frozen=True)
class ServiceSpec:
    """A service ``jiesu dev`` runs: its name and port offset."""

    name: str
    offset: int
    database: bool = True  # the console has none: nothing to migrate

    @property
    def module(self) -> str:
        """The module to run with ``python -m``."""
        return f"jiesu_{self.name}"

    @property
    def env_prefix(self) -> str:
        """Its settings' environment prefix."""
        return f"JIESU_{self.name.upper()}_"


SERVICES = (
    ServiceSpec("intake", 1),
    ServiceSpec("dispatch", 2),
    ServiceSpec("department", 3),
    ServiceSpec("review", 4),
    ServiceSpec("metrics", 5),
    ServiceSpec("console", 6, database=False),
)
LOCK_NAME = "dev.lock"
STAFF_ROLES = ("operator", "dispatcher", "reviewer", "supervisor", "admin")
DEV_GRID = "G01010101"

# The services' producers give up on a send after this long, and their broker guards
# check the broker this often (set for them below).
PRODUCER_TIMEOUT_S = 5.0
PROBE_INTERVAL_S = 1.0
# Tansu's memory engine acknowledges writes to a topic it does not know yet (a client
# still holding the old broker's metadata) and then corrupts that topic's offsets when the
# topic is created. So a new broker starts only once every send that was in flight has
# given up and every guard has seen the broker gone and holds its outbox back.
BROKER_RESTART_DELAY_S = PRODUCER_TIMEOUT_S + PROBE_INTERVAL_S + 2.0
RESTART_BACKOFF_S = (0.5, 10.0)  # first delay, cap; doubles per quick failure
STABLE_AFTER_S = 30.0  # up this long: the next failure starts the backoff afresh


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Development secrets, generated once and kept with the data they protect."""
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    secrets = {
        "jwt_secret": base64.b64encode(os.urandom(32)).decode(),
        "pii_encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "pii_hash_key": base64.b64encode(os.urandom(32)).decode(),
    }
    path.write_text(json.dumps(secrets, indent=2))
    path.chmod(0o600)
    return secrets


def service_env(
    spec: ServiceSpec,
    *,
    db_url: str,
    bootstrap: str,
    secrets: dict[str, str],
    port: int,
    urls: dict[str, str] | None = None,
    notify_file: str | None = None,
) -> dict[str, str]:
    """The environment one service process gets (``urls``: the other services' base URLs;
    ``notify_file``: where the development notifier writes)."""
    p = spec.env_prefix
    env = {
        f"{p}DATABASE__URL": db_url,
        f"{p}KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        # Tansu ignores LeaveGroup: keep a restarted service's wait for its partitions short.
        f"{p}KAFKA__SESSION_TIMEOUT_MS": "6000",
        f"{p}KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        f"{p}KAFKA__REQUEST_TIMEOUT_MS": str(int(PRODUCER_TIMEOUT_S * 1000)),
        f"{p}KAFKA__PROBE_INTERVAL_S": str(PROBE_INTERVAL_S),
        f"{p}AUTH__JWT_SECRET": secrets["jwt_secret"],
        f"{p}PORT": str(port),
        f"{p}HOST": "127.0.0.1",
    }
    if spec.name == "intake":
        env[f"{p}PII__ENCRYPTION_KEY"] = secrets["pii_encryption_key"]
        env[f"{p}PII__HASH_KEY"] = secrets["pii_hash_key"]
        # Intake reads dispatch's category catalog over HTTP (Open311's services).
        if urls and "dispatch" in urls:
            env[f"{p}CATALOG__DISPATCH_URL"] = urls["dispatch"]
    if spec.name in ("department", "review") and urls and "intake" in urls:
        # Units and reviewers fetch a resident's phone number from intake, audited.
        env[f"{p}INTAKE_URL"] = urls["intake"]
    if spec.name in ("department", "metrics") and urls and "dispatch" in urls:
        # A whistle is checked against dispatch's directory of units; the escalation
        # ladder's messages go to the units' contacts kept there.
        env[f"{p}DISPATCH_URL"] = urls["dispatch"]
    if spec.name == "review" and urls and "review" in urls:
        # Residents' self-review links point at callback-review's own page.
        env[f"{p}SELF_REVIEW__BASE_URL"] = urls["review"]
    if spec.name in ("metrics", "review", "intake") and notify_file is not None:
        # Development: messages (escalations, residents' links) go to one file.
        env[f"{p}NOTIFY__ADAPTER"] = "file"
        env[f"{p}NOTIFY__FILE_PATH"] = notify_file
    if spec.name == "console":
        # Pages from the other services' APIs; a sign-in page for development roles.
        env.update(
            {f"{p}UPSTREAM__{k.upper()}_URL": v for k, v in (urls or {}).items() if k != "console"}
        )
        env[f"{p}DEV_LOGIN"] = "true"
        env[f"{p}COOKIE_SECURE"] = "false"
    return env


class DevStack:
    """The running embedded platform."""

    def __init__(
        self,
        root: Path,
        *,
        port_base: int = 8000,
        fresh: bool = False,
        extra_env: Callable[[ServiceSpec], dict[str, str]] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.port_base = port_base
        # More settings per service, e.g. the production identity.
        self.extra_env = extra_env
        self._lock = _hold_lock(self.root / LOCK_NAME)  # before touching anything under root
        self._pids = self.root / "dev" / "pids.json"
        self.postgres = EmbeddedPostgres(self.root / "pg")
        _stop_leftovers(self._pids)
        if fresh:
            self.postgres.stop_stale()
            for child in self.root.iterdir():
                if child.is_dir():
                    remove_tree(child)
                elif child.name != LOCK_NAME:
                    child.unlink()
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.secrets = load_or_create_secrets(self.root / "dev" / "secrets.json")
        self.broker = EmbeddedBroker(log_path=self.root / "logs" / "tansu.log")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._restarts: dict[str, _Restart] = {}
        self._supervisor: threading.Thread | None = None
        self._supervising = threading.Event()
        self._lock = threading.RLock()

    @property
    def notifications_file(self) -> Path:
        """Where the development notifier writes every message (one JSON line each)."""
        return self.root / "notifications.jsonl"

    def url_of(self, spec: ServiceSpec) -> str:
        """Base URL of a service."""
        return f"http://127.0.0.1:{self.port_base + spec.offset}"

    def start(self) -> None:
        """Bring everything up; returns when every service is ready."""
        for spec in SERVICES:
            _require_free(self.port_base + spec.offset)
        self.postgres.start()
        self.broker.start()
        self._record_pids()
        for spec in (s for s in SERVICES if s.database):
            env = self._env(spec)
            subprocess.run(
                [sys.executable, "-m", spec.module, "migrate"],
                env=env,
                check=True,
                stdout=self._log(spec),
                stderr=subprocess.STDOUT,
            )
        for spec in SERVICES:
            self.start_service(spec)
        for spec in SERVICES:
            wait_ready(self.url_of(spec), timeout=90)
        if self.takes_development_tokens():
            self.write_tokens()

    def start_service(self, spec: ServiceSpec) -> None:
        """Start (or restart) one service process."""
        with self._lock:
            self.processes[spec.name] = subprocess.Popen(
                [sys.executable, "-m", spec.module, "serve"],
                env=self._env(spec),
                stdout=self._log(spec),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._record_pids()

    # -- supervision ------------------------------------------------------------------

    def start_supervisor(self, report: Callable[[str], None] | None = None) -> None:
        """Restart whatever dies (services, broker, PostgreSQL) in a background thread."""
        self._supervising.set()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(report or _to_stderr,), name="jiesu-supervisor"
        )
        self._supervisor.daemon = True
        self._supervisor.start()

    def stop_supervisor(self) -> None:
        """Stop restarting things (before an orderly stop)."""
        self._supervising.clear()
        if self._supervisor is not None:
            self._supervisor.join(timeout=120)
            self._supervisor = None

    def _supervise(self, report: Callable[[str], None]) -> None:
        while self._supervising.is_set():
            for name, alive in self._liveness().items():
                if not self._supervising.is_set():
                    return
                self._tend(name, alive, report)
            time.sleep(0.25)

    def _liveness(self) -> dict[str, bool]:
        with self._lock:
            alive = {
                "postgres": self.postgres.postmaster_pid() is not None,
                "broker": self.broker.running,
            }
            for name, proc in self.processes.items():
                alive[name] = proc.poll() is None
        return alive

    def _tend(self, name: str, alive: bool, report: Callable[[str], None]) -> None:
        now = time.monotonic()
        state = self._restarts.setdefault(name, _Restart(started_at=now))
        if alive:
            if state.failures and now - state.started_at > STABLE_AFTER_S:
                state.failures = 0
            return
        if state.due is None:
            first, cap = RESTART_BACKOFF_S
            delay = min(cap, first * 2**state.failures)
            if name == "broker":
                delay = max(delay, BROKER_RESTART_DELAY_S)
            state.due = now + delay
            report(f"{name} 已退出 / exited ({self._exit_of(name)}); restarting in {delay:.1f} s")
            return
        if now < state.due:
            return
        state.due = None
        state.failures += 1
        try:
            self.restart(name)
        except Exception as exc:  # reported, retried with the next backoff
            report(f"{name} restart failed: {exc!r}")
            return
        state.started_at = time.monotonic()
        report(f"{name} 已重启 / restarted")

    def _exit_of(self, name: str) -> str:
        if name == "broker":
            return f"code {self.broker.exit_code}"
        if name == "postgres":
            return "postmaster gone"
        return f"code {self.processes[name].poll()}"

    def restart(self, name: str) -> None:
        """Start one part again: ``postgres``, ``broker`` or a service's name."""
        with self._lock:
            if name == "postgres":
                self.postgres.start()
            elif name == "broker":
                self.broker.stop()
                self.broker.start()
            else:
                self.start_service(next(s for s in SERVICES if s.name == name))
            self._record_pids()

    def stop(self) -> None:
        """Services first (they drain their outboxes), then the broker, then PostgreSQL."""
        self.stop_supervisor()
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.broker.stop()
        self.postgres.stop()
        self._pids.unlink(missing_ok=True)

    def _record_pids(self) -> None:
        # So that a run killed with SIGKILL leaves nothing behind for the next one, and the
        # bench (attached) knows what to measure and, in chaos mode, what to kill.
        pids = {name: proc.pid for name, proc in self.processes.items()}
        if self.broker.pid is not None:
            pids["broker"] = self.broker.pid
        postmaster = self.postgres.postmaster_pid()
        if postmaster is not None:
            pids["postgres"] = postmaster
        tmp = self._pids.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids))
        tmp.replace(self._pids)

    def takes_development_tokens(self) -> bool:
        """Whether the services run in development mode (``extra_env`` may set production)."""
        dispatch = next(s for s in SERVICES if s.name == "dispatch")  # write_tokens asks it
        mode = self._env(dispatch).get(f"{dispatch.env_prefix}AUTH__MODE", "development")
        return mode.lower() == "development"

    def write_tokens(self) -> dict[str, Any]:
        """``.jiesu/dev/tokens.json``: one token per staff role and one per seeded unit."""
        auth = AuthSettings(jwt_secret=SecretStr(self.secrets["jwt_secret"]))
        tokens: dict[str, Any] = {role: mint_token(auth, role=role) for role in STAFF_ROLES}
        dispatch = next(s for s in SERVICES if s.name == "dispatch")
        units = httpx.get(
            f"{self.url_of(dispatch)}/v1/units",
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=10,
        ).json()["items"]
        # A grid worker of the demo city's first grid (杏林第1网格).
        tokens["grid_worker"] = mint_token(auth, role="grid_worker", grid_code=DEV_GRID)
        tokens["units"] = {
            u["unit_id"]: mint_token(auth, role="unit_staff", unit_id=u["unit_id"]) for u in units
        }
        path = self.root / "dev" / "tokens.json"
        path.write_text(json.dumps(tokens, indent=2))
        (self.root / "dev" / "urls.json").write_text(
            json.dumps(
                {
                    **{s.name: self.url_of(s) for s in SERVICES},
                    "postgres": self.postgres.url,
                    "kafka": self.broker.bootstrap,
                },
                indent=2,
            )
        )
        return tokens

    def env_of(self, spec: ServiceSpec) -> dict[str, str]:
        """The environment a service runs with here (to start another replica of it)."""
        return self._env(spec)

    def _env(self, spec: ServiceSpec) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            service_env(
                spec,
                db_url=self.postgres.url_for(f"jiesu_{spec.name}"),
                bootstrap=self.broker.bootstrap,
                secrets=self.secrets,
                port=self.port_base + spec.offset,
                urls={s.name: self.url_of(s) for s in SERVICES},
                notify_file=str(self.notifications_file),
            )
        )
        if self.extra_env is not None:
            env.update(self.extra_env(spec))
        return env

    def _log(self, spec: ServiceSpec) -> Any:
        return open(self.root / "logs" / f"{spec.name}.log", "ab")


@dataclass
class _Restart:
    """Restart bookkeeping of one supervised part."""

    started_at: float
    failures: int = 0
    due: float | None = None


def _to_stderr(message: str) -> None:
    print(f"[supervisor] {message}", file=sys.stderr, flush=True)


class AlreadyRunning(RuntimeError):
    """Another `jiesu dev` holds this data directory."""


def _hold_lock(path: Path) -> Any:
    """An exclusive lock on the data directory, held for the life of the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115 - kept open on purpose: it is the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(
            f"另一个 jiesu dev 正在使用 {path.parent} / another `jiesu dev` is running "
            "on this data directory"
        ) from None
    return handle


def _stop_leftovers(pids_file: Path) -> None:
    """Stop the services and broker of an earlier run that was killed without cleaning up."""
    if not pids_file.exists():
        return
    for pid in json.loads(pids_file.read_text()).values():
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"jiesu_" in cmdline or b"tansu" in cmdline:
                os.kill(pid, signal.SIGTERM)
    time.sleep(1.0)
    pids_file.unlink(missing_ok=True)


def _require_free(port: int) -> None:
    with socket.socket() as sock:
        # As uvicorn binds: connections of an earlier run in TIME_WAIT do not make it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(
                f"端口 {port} 已被占用 / port {port} is in use: stop whatever listens there, "
                "or pass --port-base to move the services"
            ) from None


def wait_ready(base_url: str, timeout: float) -> None:
    """Poll ``/readyz`` until it answers 200."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=3)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise TimeoutError(f"{base_url} not ready after {timeout}s: {last}")
