"""Runs the prioritize service: `feedloop-prioritize` or `python -m feedloop.prioritize`."""

from feedloop.common.serving import run_service
from feedloop.prioritize.app import create_app
from feedloop.prioritize.settings import PrioritizeSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = PrioritizeSettings()
    return run_service(create_app(settings), settings)


if __name__ == "__main__":
    raise SystemExit(main())
