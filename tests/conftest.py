"""Settings shared by every test tier."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "ci" is the default; HYPOTHESIS_PROFILE=dev runs fewer examples for quick local loops.
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
