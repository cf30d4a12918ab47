"""The Alembic environment of every service: its metadata comes from the Migrations that runs it."""

from alembic import context
from feedloop.common.migrate import run_env

run_env(context, context.config.attributes["metadata"])
