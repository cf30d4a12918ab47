"""Runs the notify service: `feedloop-notify` or `python -m feedloop.notify`."""

from feedloop.common.serving import run_service
from feedloop.notify.app import create_app
from feedloop.notify.settings import NotifySettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = NotifySettings()
    return run_service(create_app(settings), settings)


if __name__ == "__main__":
    raise SystemExit(main())
