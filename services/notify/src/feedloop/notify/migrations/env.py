"""Alembic environment: runs on a connection handed over by migrate.py, or opens its own."""

from alembic import context
from feedloop.common.migrate import run_env
from feedloop.notify.models import Base

run_env(context, Base.metadata)
