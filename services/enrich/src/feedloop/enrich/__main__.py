"""Runs the enrich service: `feedloop-enrich` or `python -m feedloop.enrich`.

`feedloop-enrich reprocess --since ...` re-analyses history instead (feedloop.enrich.reprocess).
"""

import sys

import uvicorn
from feedloop.common.serving import metrics_address, serve
from feedloop.enrich.app import create_app
from feedloop.enrich.settings import EnrichSettings


def main() -> int:
    """Serves with the settings from the environment; 0 after a clean shutdown on SIGTERM."""
    if sys.argv[1:2] == ["reprocess"]:
        from feedloop.enrich import reprocess  # only the command needs it

        return reprocess.main(sys.argv[2:])
    settings = EnrichSettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )
    return serve(uvicorn.Server(config), metrics_at=metrics_address(settings))


if __name__ == "__main__":
    raise SystemExit(main())
