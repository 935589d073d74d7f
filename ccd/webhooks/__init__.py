"""Webhooks for integrators: signed, durable HTTP deliveries of call-center events."""
