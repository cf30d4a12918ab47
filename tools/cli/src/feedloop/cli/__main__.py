"""Entry point of the `feedloop` console script."""

import logging
import os

from feedloop.cli.app import app


def main() -> None:
    """Runs the `feedloop` command line."""
    # aiokafka logs every failed connection attempt; the command reports the outcome itself.
    level = os.environ.get("FEEDLOOP_CLI_LOG_LEVEL", "CRITICAL").upper()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(level)
    app()


if __name__ == "__main__":
    main()
