"""Lambda entrypoint of /api/accounts (API Gateway HTTP API, JWT authorizer)."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.api.accounts import make_handler

logs.configure()
handler = make_handler(bootstrap.build(Settings.from_environ(os.environ), application="accounts"))
