"""Entrypoints: thin shells (Lambda handlers, CLI, local server) around the core use cases."""
