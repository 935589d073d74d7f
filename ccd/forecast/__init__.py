"""Staffing forecast: volume and handle time per interval of a coming day from the queue's
history, and the agents Erlang C says that day needs (pure cores, no IO; the history is
read by ``ccd.db.forecast_history`` and the whole run is glued in ``ccd.forecast.run``)."""
