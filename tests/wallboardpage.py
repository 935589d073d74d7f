"""Reading the wallboard page in a browser (tests/chromium.py) the way a person reads it:
the text of each tile figure and grid cell, by the ``data-*`` names the page gives them."""

from __future__ import annotations

from tests.chromium import Page

# {"queues": {id: {name, waiting, longest_wait, service_level, abandon_rate, offered,
#  states: {state: count}}}, "agents": {id: {name, state, time, queue, call}},
#  "connection", "login" (the login form shows), "error" (its message)} — all text.
READ_BOARD = """(() => {
  const text = (root, field) => root.querySelector(
    `[data-field="${field}"] .value, td[data-field="${field}"]`).textContent;
  const queues = {};
  for (const tile of document.querySelectorAll('#queues [data-queue]')) {
    const states = {};
    for (const s of tile.querySelectorAll('[data-state]')) {
      states[s.dataset.state] = s.querySelector('b').textContent;
    }
    queues[tile.dataset.queue] = {
      name: tile.querySelector('h2').textContent,
      waiting: text(tile, 'waiting'), longest_wait: text(tile, 'longest_wait'),
      service_level: text(tile, 'service_level'), abandon_rate: text(tile, 'abandon_rate'),
      offered: text(tile, 'offered'), states,
    };
  }
  const agents = {};
  for (const row of document.querySelectorAll('#agents tbody tr')) {
    agents[row.dataset.agent] = {
      name: text(row, 'name'), state: text(row, 'state'), time: text(row, 'time_in_state'),
      queue: text(row, 'queue'), call: text(row, 'call'),
    };
  }
  return {queues, agents, connection: document.getElementById('connection').textContent,
          login: !document.getElementById('login').hidden,
          error: document.getElementById('login-error').textContent};
})()"""


def seconds(shown: str) -> int:
    """``m:ss`` or ``h:mm:ss`` as the page writes a duration, in seconds."""
    total = 0
    for part in shown.split(":"):
        total = total * 60 + int(part)
    return total


async def log_in(page: Page, token: str) -> None:
    """Type ``token`` into the login form and press the button."""
    await page.evaluate("document.getElementById('token').value = ''")
    await page.type_into("#token", token)
    await page.click("#login-button")
