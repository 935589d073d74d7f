"""Frozen domain types shared by every subsystem. No IO, no framework imports."""
