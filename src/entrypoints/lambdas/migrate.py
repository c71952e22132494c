"""Lambda entrypoint run on every deploy: apply pending migrations, ensure partitions.

It returns a summary and raises on failure, so that the deploy trigger fails the deploy.
"""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.operations import make_migrate_handler

logs.configure()
handler = make_migrate_handler(
    bootstrap.build(Settings.from_environ(os.environ), application="migrate")
)
