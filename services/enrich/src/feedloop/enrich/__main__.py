"""Runs the enrich service: `feedloop-enrich` or `python -m feedloop.enrich`.

`feedloop-enrich reprocess --since ...` re-analyses history instead (feedloop.enrich.reprocess).
"""

import sys

from feedloop.common.serving import run_service
from feedloop.enrich.app import create_app
from feedloop.enrich.settings import EnrichSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    if sys.argv[1:2] == ["reprocess"]:
        from feedloop.enrich import reprocess  # only the command needs it

        return reprocess.main(sys.argv[2:])
    settings = EnrichSettings()
    return run_service(create_app(settings), settings)


if __name__ == "__main__":
    raise SystemExit(main())
