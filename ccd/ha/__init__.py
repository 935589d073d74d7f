"""High availability: two or more ccd instances against one Asterisk and one PostgreSQL,
exactly one of them active (``election`` decides, ``postgres`` holds the lock and lease,
``runtime`` runs the two, ``standby`` is the API's answer on a standby)."""
