"""Lambda entrypoint run daily: create the coming days' partitions, drop expired ones."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.operations import make_maintenance_handler

logs.configure()
handler = make_maintenance_handler(
    bootstrap.build(Settings.from_environ(os.environ), application="maintenance")
)
