"""FastAGI: ccd's own server for Asterisk's ``AGI(agi://...)`` connections, the AGI
command client for one call, and the runner that drives an IVR session over it."""
