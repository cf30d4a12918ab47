"""Runs the console: `feedloop-console` or `python -m feedloop.console`."""

from feedloop.common.serving import run_service
from feedloop.console.app import create_app
from feedloop.console.settings import ConsoleSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = ConsoleSettings()
    # The peer address must stay the real one: identity headers are believed only from the
    # configured proxies (FEEDLOOP_CONSOLE_TRUSTED_PROXIES), never from X-Forwarded-For.
    return run_service(create_app(settings), settings, proxy_headers=False)


if __name__ == "__main__":
    raise SystemExit(main())
