"""Lambda entrypoint of processIngest: the Firehose HTTP endpoint (a Function URL)."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.api.firehose_endpoint import make_handler

logs.configure()
handler = make_handler(
    bootstrap.build(Settings.from_environ(os.environ), application="process-ingest")
)
