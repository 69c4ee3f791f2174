"""The Celery app of the account workers (docs/many-accounts.md, "Celery").

Start a worker with::

    .venv-dagster/bin/celery -A orchestration.celery_app worker --hostname=w1@%h --concurrency=2

The same broker, backend and settings as the executor (celery_settings.py): from
``SPINVOICES_CELERY_BROKER`` (and ``SPINVOICES_CELERY_BACKEND``) or the account list's
``celery:``. No YAML to get wrong: dagster-celery's ``worker start -y`` reads the broker only
from ``execution: config:`` and falls back to amqp://guest@localhost for any other shape.
The task is dagster-celery's own (``execute_plan``): it runs one step of a Dagster run with
the Dagster instance the run names (dagster-postgres), so a worker needs the checkout, the
account list, the environment of the accounts and that database, and nothing on any other
machine but the broker and the databases.
"""

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from orchestration.accounts import accounts_file, load_plan
from orchestration.celery_executor import app_args
from orchestration.celery_settings import endpoints

app = make_app(app_args(endpoints(load_plan(accounts_file()), os.environ)))
execute_plan = create_task(app)
