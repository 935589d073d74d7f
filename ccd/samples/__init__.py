"""The files an admin deploys beside ccd (configuration, IVR flows, ACD seed, dialplan,
manager.conf, systemd unit, secrets file), shipped inside the package and written out
by ``ccd init DIR``."""
