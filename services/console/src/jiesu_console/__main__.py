"""``python -m jiesu_console serve|healthcheck`` (no database: no ``migrate``, no ``worker``)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from jiesu_common.container import probe_health
from jiesu_common.logging import configure_logging
from jiesu_console.main import create_app
from jiesu_console.settings import ConsoleSettings


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the console until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m jiesu_console")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="the web pages for people")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    sub.add_parser("healthcheck", help="exit 0 when this host's `serve` answers /healthz")
    args = parser.parse_args(argv)
    settings = ConsoleSettings()
    if args.command == "healthcheck":
        return probe_health(settings.host, settings.port)
    configure_logging("console", settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _DrainingServer(config)
    server.app_ = app
    server.run()
    return 0


class _DrainingServer(uvicorn.Server):
    """Ends the live streams on SIGTERM so that shutdown is quick."""

    app_: object = None

    def handle_exit(self, sig: int, frame: object) -> None:
        """Mark the app as draining, then stop as uvicorn does."""
        state = getattr(self.app_, "state", None)
        if state is not None:
            state.draining = True
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
