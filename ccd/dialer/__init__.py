"""The outbound dialer: campaigns, contacts, pacing and the compliance rules."""
