"""ccd's HTTP API (aiohttp): REST for calls, a websocket of live call changes, probes.

Routes (``build_api`` in ``ccd.api.app``; roles in ``ccd.api.policy.ROUTE_ROLES``):

- ``GET /healthz``, ``GET /readyz`` — no token; readyz is 503 with ``reasons`` when not ready.
- ``GET /api/v1/calls``, ``GET /api/v1/calls/{id}`` — live calls (admin, supervisor, integrator).
- ``POST /api/v1/calls`` — originate; ``DELETE /api/v1/calls/{id}`` — hang up (admin, supervisor).
- ``GET /api/v1/events`` — websocket: a ``snapshot`` message, then ``call.started`` /
  ``call.updated`` / ``call.ended``, each carrying the whole call, so applying them is
  idempotent (upsert by ``call.id``; remove on ``call.ended``). Too slow a reader is closed
  with 1008, shutdown closes with 1001.
- ``GET /api/v1/me`` — the caller's principal (every role).
- ``GET /api/v1/cdrs``, ``GET /api/v1/cdrs/{id}``, ``GET /api/v1/cdrs.csv`` — stored call
  detail records (every role; agents only their own calls), see ``ccd.api.cdrs``.
- ``/api/v1/campaigns…`` and ``/api/v1/dnc…`` — the dialer: campaigns (``campaigns``), their
  live figures (``campaign_live``), contacts (``campaign_contacts``), preview dialing and
  dispositions (``dialing``), the abandonment report and its CSV (``compliance``), the
  do-not-call lists (``dnc``); the running dialer as the API sees it in ``dialer_runtime``.

Authentication: ``Authorization: Bearer <token>``. A browser websocket, which cannot set
headers, offers the subprotocols ``ccd.v1`` and ``bearer.<token>``; the server answers
``ccd.v1``. Tokens in the query string are ignored (query strings end up in logs).

Every error is an RFC 9457 ``application/problem+json`` body; validation errors (422)
list ``errors: [{field, message}]``.
"""
