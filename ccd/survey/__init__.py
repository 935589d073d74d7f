"""Post-call surveys: the caller rates the call by DTMF after the agent hangs up."""
