"""What ccd measures about itself for Prometheus (``GET /metrics``): the collector that
reads every component's counters at scrape time, and the few measurements no component
keeps on its own (event-loop lag, dialer attempts per campaign)."""
