"""AWS Lambda handler modules: each reads settings, builds services once, exposes `handler`."""
