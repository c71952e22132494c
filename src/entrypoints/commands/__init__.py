"""The `analytics` command line, one module per command or group of commands (assembled in
`entrypoints.cli`)."""
