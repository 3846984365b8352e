"""The ``jiesu`` command: ``dev``, ``token``, ``dlq-replay``, ``outbox``, ``bench``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from pydantic import SecretStr

from jiesu_common import outbox_cli
from jiesu_common.auth import ROLES, mint_token
from jiesu_common.settings import AuthSettings, KafkaSettings

DEFAULT_ROOT = Path(".jiesu")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jiesu`` console script."""
    parser = argparse.ArgumentParser(prog="jiesu", description="Jiesu 接诉即办 platform tools")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole platform on embedded PostgreSQL and Tansu")
    dev.add_argument("--fresh", action="store_true", help="wipe .jiesu/ first")
    dev.add_argument("--data-dir", type=Path, default=DEFAULT_ROOT)
    dev.add_argument("--port-base", type=int, default=8000, help="services listen on base+1..")
    token = sub.add_parser("token", help="mint a development JWT")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--unit", help="unit id (for unit_staff)")
    token.add_argument("--grid", help="grid code (for grid_worker)")
    token.add_argument("--secret", help="JWT secret (default: $JIESU_JWT_SECRET or .jiesu/)")
    token.add_argument("--data-dir", type=Path, default=DEFAULT_ROOT)
    replay = sub.add_parser("dlq-replay", help="re-publish a dead-letter topic's messages")
    replay.add_argument("dlq_topic")
    replay.add_argument("--bootstrap", default=os.environ.get("JIESU_KAFKA_BOOTSTRAP"))
    outbox_cli.add_parser(sub, DEFAULT_ROOT)
    sub.add_parser(
        "bench", help="benchmark the five steps (see `jiesu bench --help`)", add_help=False
    )
    sub.add_parser(
        "learn",
        help="dispatch's learning loop: import history, train, evaluate (`jiesu learn --help`)",
        add_help=False,
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    if argv[:1] == ["learn"]:
        return _learn(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "dev":
        return run_dev(args.data_dir, fresh=args.fresh, port_base=args.port_base)
    if args.command == "token":
        print(_token(args))
        return 0
    if args.command == "outbox":
        return outbox_cli.run(args)
    return _replay(args)


def _bench(argv: list[str]) -> int:
    try:
        from jiesu_bench.cli import main as bench_main  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise SystemExit(
            "jiesu bench 需要 jiesu-bench 包 / needs the jiesu-bench package: uv sync --all-packages"
        ) from None
    return int(bench_main(argv))


def _learn(argv: list[str]) -> int:
    try:
        from jiesu_dispatch.learning.cli import main as learn_main  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise SystemExit(
            "jiesu learn 需要 jiesu-dispatch 包 / needs the jiesu-dispatch package: "
            "uv sync --all-packages"
        ) from None
    return int(learn_main(argv))


def _token(args: argparse.Namespace) -> str:
    secret = args.secret or os.environ.get("JIESU_JWT_SECRET")
    if not secret:
        path = args.data_dir / "dev" / "secrets.json"
        if not path.exists():
            raise SystemExit(
                "no JWT secret: pass --secret, set JIESU_JWT_SECRET or run `jiesu dev`"
            )
        secret = json.loads(path.read_text())["jwt_secret"]
    try:
        return mint_token(
            AuthSettings(jwt_secret=SecretStr(secret)),
            role=args.role,
            unit_id=args.unit,
            grid_code=args.grid,
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def _replay(args: argparse.Namespace) -> int:
    from jiesu_common.messaging.dlq import replay_dlq

    if not args.bootstrap:
        raise SystemExit("pass --bootstrap host:port (or set JIESU_KAFKA_BOOTSTRAP)")
    count = asyncio.run(
        replay_dlq(KafkaSettings(bootstrap_servers=args.bootstrap), dlq=args.dlq_topic)
    )
    print(f"replayed {count} message(s) from {args.dlq_topic}")
    return 0


def run_dev(root: Path, *, fresh: bool, port_base: int) -> int:
    """Start the embedded platform and block until Ctrl-C or SIGTERM."""
    from jiesu_common.devstack import SERVICES, AlreadyRunning, DevStack

    try:
        stack = DevStack(root, port_base=port_base, fresh=fresh)
    except AlreadyRunning as exc:
        raise SystemExit(str(exc)) from None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("启动中 / starting: PostgreSQL, Tansu broker, services ...", flush=True)
        stack.start()
        print("\nJiesu 接诉即办 is running (embedded stack):")
        for spec in SERVICES:
            print(f"  {spec.name:<10} {stack.url_of(spec)}   (docs: {stack.url_of(spec)}/docs)")
        console = stack.url_of(next(s for s in SERVICES if s.name == "console"))
        print(f"  监督考核驾驶舱 {console}/dashboard   (开发登录 / sign in: {console}/login)")
        print(f"  postgres   {stack.postgres.url}")
        print(
            f"  kafka      {stack.broker.bootstrap}   (in memory; after a restart the services "
            "re-publish what their outboxes kept)"
        )
        print(f"  tokens     {stack.root / 'dev' / 'tokens.json'}")
        print(f"  logs       {stack.root / 'logs'}")
        print(f"  messages   {stack.notifications_file}   (短信/邮件 development notifier)")
        print("Ctrl-C 停止 / stops everything.", flush=True)
        stack.start_supervisor()
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(
            "\n停止中 / stopping: services (draining outboxes), broker, PostgreSQL ...", flush=True
        )
        stack.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
