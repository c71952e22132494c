"""Lambda entrypoint run every minute: fold the rows ingested since into the read model."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.operations import make_fold_handler

logs.configure()
handler = make_fold_handler(
    bootstrap.build(Settings.from_environ(os.environ), application="fold-stats")
)
