"""Lambda entrypoint of the collect API (`POST /ingest?site_id=`): envelopes into Firehose."""

import os

from adapters.config import Settings
from entrypoints import bootstrap, logs
from entrypoints.api.collect import make_handler

logs.configure()
handler = make_handler(bootstrap.build(Settings.from_environ(os.environ), application="ingest"))
