"""Helpers shared by the test tiers: canonical AWS events, databases, clocks."""
