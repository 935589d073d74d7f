"""Automatic call distribution: pure decision core (no IO)."""
