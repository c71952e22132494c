"""Lambda entrypoint of GET /api/query (API Gateway HTTP API, JWT authorizer)."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.api.query import make_handler

logs.configure()
handler = make_handler(bootstrap.build(Settings.from_environ(os.environ), application="query"))
