"""Reports: per queue, agent and campaign figures by interval over a date range."""
