"""Runs the solicit service: `feedloop-solicit` or `python -m feedloop.solicit`."""

from feedloop.common.serving import run_service
from feedloop.solicit.app import create_app
from feedloop.solicit.settings import SolicitSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    settings = SolicitSettings()
    return run_service(create_app(settings), settings)


if __name__ == "__main__":
    raise SystemExit(main())
