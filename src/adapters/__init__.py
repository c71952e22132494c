"""Adapters: every piece of I/O (PostgreSQL, AWS, files), each implementing a port of the core."""
