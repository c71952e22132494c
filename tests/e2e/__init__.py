"""End-to-end tests: the CLI as a subprocess, a real browser, the README walkthrough."""
