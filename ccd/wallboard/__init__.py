"""The wallboard: a web page for a wall screen showing queues and agents live.

``view`` (pure) turns the ACD's live views plus queue and agent names into what the page
shows; ``ccd.api.wallboard`` serves the page and its data; ``static/`` is the page.
"""
