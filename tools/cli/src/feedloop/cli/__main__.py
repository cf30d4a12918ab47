"""Entry point of the `feedloop` console script."""

from feedloop.cli.app import app


def main() -> None:
    """Runs the `feedloop` command line."""
    app()


if __name__ == "__main__":
    main()
