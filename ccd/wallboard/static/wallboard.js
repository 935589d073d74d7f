// ccd wallboard: token login, the board pushed over a websocket, durations ticked
// locally between pushes, today's interval chart drawn as inline SVG. No dependencies.
'use strict';

(function () {
  const TOKEN_KEY = 'ccd.wallboard.token';
  const STATES = [
    ['available', 'Idle'],
    ['reserved', 'Ringing'],
    ['on_call', 'Talking'],
    ['wrap_up', 'Wrap-up'],
    ['paused', 'Paused'],
  ];
  const STATE_LABEL = Object.fromEntries(STATES);
  const CHART_EVERY_MS = 60000;
  // After a call ends its record takes a moment to be stored: ask the report then.
  const CHART_AFTER_CHANGE_MS = 2000;
  const INTERVAL_MIN = 30;
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  let socket = null;
  let board = null;
  let receivedAt = 0; // performance.now() when `board` arrived
  let retryMs = 1000;
  let retryTimer = null;
  let chartTimer = null;
  let chartDay = null;
  let chartTotals = null;
  let chartSoon = null;

  // ---- formatting ---------------------------------------------------------------

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
  }
  const pct = (value) => (value === null || value === undefined ? '–' : `${value.toFixed(1)} %`);
  const elapsed = () => (performance.now() - receivedAt) / 1000;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'class') node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  // ---- login --------------------------------------------------------------------

  function showLogin(message) {
    stop();
    $('board').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  async function checkToken(token) {
    // The page may be open, the data is not: a 401/403 here says why before anything shows.
    const response = await fetch('/api/v1/wallboard', {
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
    if (response.status === 401) return 'This token is not valid (unknown, expired or revoked).';
    if (response.status === 403) return "This token's role may not see the wallboard.";
    if (!response.ok) return `The server answered ${response.status}; try again.`;
    return null;
  }

  async function login(event) {
    event.preventDefault();
    const token = $('token').value.trim();
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(token)) {
      $('login-error').textContent = 'A token has no spaces or special characters.';
      return;
    }
    $('login-error').textContent = '';
    let problem;
    try {
      problem = await checkToken(token);
    } catch (err) {
      problem = 'The server cannot be reached.';
    }
    if (problem) {
      $('login-error').textContent = problem;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    start(token);
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('');
  }

  // ---- the live stream ----------------------------------------------------------

  function setConnection(state, text) {
    const node = $('connection');
    node.dataset.state = state;
    node.textContent = text;
  }

  function start(token) {
    $('login').hidden = true;
    $('board').hidden = false;
    connect(token);
  }

  function stop() {
    if (retryTimer) clearTimeout(retryTimer);
    if (chartTimer) clearInterval(chartTimer);
    if (chartSoon) clearTimeout(chartSoon);
    retryTimer = chartTimer = chartSoon = null;
    chartDay = chartTotals = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
      socket = null;
    }
  }

  function connect(token) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // The token rides in Sec-WebSocket-Protocol, never in the URL (URLs land in logs).
    socket = new WebSocket(`${scheme}//${location.host}/api/v1/wallboard/events`, [
      'ccd.v1',
      `bearer.${token}`,
    ]);
    setConnection('connecting', 'connecting…');
    socket.onopen = () => {
      retryMs = 1000;
      setConnection('live', 'live');
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== 'wallboard') return;
      board = message;
      receivedAt = performance.now();
      render();
      const totals = board.queues.map((q) => `${q.offered}/${q.answered}/${q.abandoned}`).join();
      if (chartDay !== board.day_start) {
        chartDay = board.day_start;
        chartTotals = totals;
        loadChart(token);
        if (chartTimer) clearInterval(chartTimer);
        chartTimer = setInterval(() => loadChart(token), CHART_EVERY_MS);
      } else if (totals !== chartTotals) {
        // Today's counters moved: a call ended in some interval; redraw soon.
        chartTotals = totals;
        if (chartSoon) clearTimeout(chartSoon);
        chartSoon = setTimeout(() => loadChart(token), CHART_AFTER_CHANGE_MS);
      }
    };
    socket.onclose = async () => {
      socket = null;
      setConnection('reconnecting', 'reconnecting…');
      // A refused handshake looks like any lost connection to a page: ask why.
      let problem = null;
      try {
        problem = await checkToken(token);
      } catch (err) {
        problem = null; // server away: keep retrying
      }
      if (problem && !problem.startsWith('The server answered')) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(problem);
        return;
      }
      retryTimer = setTimeout(() => connect(token), retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  // ---- rendering ----------------------------------------------------------------

  function figure(field, label, value, extraClass) {
    return el(
      'div',
      { class: `figure ${extraClass || ''}`, 'data-field': field },
      el('span', { class: 'value' }, value),
      el('span', { class: 'label' }, label),
    );
  }

  function queueTile(queue) {
    const waited = queue.waiting > 0 ? queue.longest_wait_s + elapsed() : 0;
    const sl = figure('service_level', `SL (target ${queue.target_pct} % in ${queue.service_level_s} s)`, pct(queue.service_level_pct));
    if (queue.meets_target !== null) {
      sl.querySelector('.value').classList.add(queue.meets_target ? 'good' : 'bad');
    }
    const states = el('div', { class: 'states', 'data-field': 'agents_by_state' });
    for (const [state, label] of STATES) {
      states.append(
        el('span', { class: 'state', 'data-state': state }, `${label} `, el('b', {}, String(queue.agents[state] || 0))),
      );
    }
    return el(
      'article',
      { class: 'tile', 'data-queue': queue.id },
      el('h2', {}, queue.name),
      el(
        'div',
        { class: 'figures' },
        figure('waiting', 'waiting', String(queue.waiting), queue.waiting > 0 ? 'alert' : ''),
        figure('longest_wait', 'longest wait', duration(waited)),
        sl,
        figure('offered', 'offered today', String(queue.offered)),
        figure('answered', 'answered', String(queue.answered)),
        figure('abandon_rate', `abandoned (${queue.abandoned})`, pct(queue.abandon_rate_pct)),
      ),
      states,
    );
  }

  function agentRow(agent) {
    const status = STATE_LABEL[agent.status] || agent.status;
    const shown = agent.status === 'paused' && agent.reason ? `${status}: ${agent.reason}` : status;
    const row = el(
      'tr',
      { 'data-agent': agent.id, 'data-status': agent.status },
      el('td', { 'data-field': 'name' }, agent.name),
      el('td', { class: 'status', 'data-field': 'state' }, shown),
      el('td', { class: 'time', 'data-field': 'time_in_state' }, duration(agent.in_state_s + elapsed())),
      el('td', { 'data-field': 'queue' }, agent.call_queue || ''),
      el('td', { 'data-field': 'call' }, agent.call_id || ''),
      el('td', { 'data-field': 'calls_taken' }, String(agent.calls_taken)),
    );
    if (agent.pause_over_limit) row.classList.add('over-limit');
    return row;
  }

  function render() {
    if (!board) return;
    $('queues').replaceChildren(...board.queues.map(queueTile));
    $('agents').tBodies[0].replaceChildren(...board.agents.map(agentRow));
    $('agent-count').textContent = `(${board.agents.length} logged in)`;
    $('no-agents').hidden = board.agents.length > 0;
  }

  function tick() {
    $('clock').textContent = new Date().toLocaleTimeString();
    render();
  }

  // ---- today's interval chart ---------------------------------------------------

  async function loadChart(token) {
    if (!board) return;
    // The local day is 23, 24 or 25 hours long (daylight saving): its real ends, not 24 h.
    const from = new Date(board.day_start);
    const to = new Date(board.day_end);
    const marks = board.hour_marks || [];
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), interval: String(INTERVAL_MIN) });
    let response;
    try {
      response = await fetch(`/api/v1/reports/queues?${query}`, {
        headers: { Authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
    } catch (err) {
      $('chart-status').textContent = 'The interval report cannot be reached.';
      return;
    }
    if (response.status === 404) {
      $('chart-status').textContent = 'This server has no interval report (GET /api/v1/reports/queues).';
      return;
    }
    if (!response.ok) {
      $('chart-status').textContent = `The interval report answered ${response.status}.`;
      return;
    }
    const report = await response.json();
    $('chart-status').textContent = '';
    drawCharts(report.rows || [], from.getTime(), to.getTime(), marks);
  }

  function drawCharts(rows, dayStartMs, dayEndMs, marks) {
    const byQueue = new Map();
    for (const row of rows) {
      if (!byQueue.has(row.queue)) byQueue.set(row.queue, []);
      byQueue.get(row.queue).push(row);
    }
    const queues = new Map((board ? board.queues : []).map((q) => [q.id, q]));
    const charts = [];
    for (const id of [...byQueue.keys()].sort()) {
      const queue = queues.get(id);
      charts.push(
        chart(id, queue ? queue.name : id, byQueue.get(id), dayStartMs, dayEndMs, marks, queue ? queue.target_pct : null),
      );
    }
    $('charts').replaceChildren(...charts);
    if (!charts.length) $('chart-status').textContent = 'No calls yet today.';
  }

  function chart(queue, title, rows, dayStartMs, dayEndMs, marks, targetPct) {
    const W = 720, H = 220, L = 34, R = 8, T = 10, B = 22;
    const slotMs = INTERVAL_MIN * 60000;
    // Each bar sits at its own start time; the axis spans the day's real length.
    const slots = Math.round((dayEndMs - dayStartMs) / slotMs);
    const slotW = (W - L - R) / slots;
    const xAt = (ms) => L + ((ms - dayStartMs) / slotMs) * slotW;
    const y = (value) => T + (H - T - B) * (1 - value / 100);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-chart': queue });
    for (const level of [0, 25, 50, 75, 100]) {
      root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(level), y2: y(level) }));
      const label = svg('text', { x: 2, y: y(level) + 4 });
      label.textContent = `${level}%`;
      root.append(label);
    }
    // The server places each label at the instant the local wall clock shows it.
    for (const mark of marks) {
      const label = svg('text', { class: 'hour', x: xAt(Date.parse(mark.at)) - 8, y: H - 6, 'data-at': mark.at });
      label.textContent = mark.label;
      root.append(label);
    }
    if (typeof targetPct === 'number') {
      root.append(svg('line', { class: 'target', x1: L, x2: W - R, y1: y(targetPct), y2: y(targetPct) }));
    }
    const points = [];
    for (const row of rows) {
      const startMs = Date.parse(row.start);
      const slot = Math.floor((startMs - dayStartMs) / slotMs);
      if (slot < 0 || slot >= slots) continue;
      const x = xAt(startMs);
      if (row.abandon_rate_pct !== null && row.abandon_rate_pct !== undefined) {
        const bar = svg('rect', {
          class: 'abandon', x: x + 1, width: Math.max(1, slotW - 2),
          y: y(row.abandon_rate_pct), height: y(0) - y(row.abandon_rate_pct),
          'data-slot': slot, 'data-abandon': row.abandon_rate_pct,
        });
        root.append(bar);
      }
      if (row.service_level_pct !== null && row.service_level_pct !== undefined) {
        points.push([x + slotW / 2, y(row.service_level_pct), slot, row.service_level_pct]);
      }
    }
    if (points.length > 1) {
      root.append(svg('polyline', { class: 'sl', points: points.map((p) => `${p[0]},${p[1]}`).join(' ') }));
    }
    for (const [px, py, slot, value] of points) {
      root.append(svg('circle', { class: 'sl-point', cx: px, cy: py, r: 3, 'data-slot': slot, 'data-sl': value }));
    }
    const legend = el(
      'div',
      { class: 'legend' },
      el('span', { class: 'sl-key' }, '● service level'),
      el('span', { class: 'ab-key' }, '■ abandoned %'),
      el('span', { class: 'tg-key' }, typeof targetPct === 'number' ? `- - target ${targetPct} %` : ''),
    );
    return el('figure', { class: 'chart', 'data-queue': queue }, el('h3', {}, title), root, legend);
  }

  // ---- start --------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    setInterval(tick, 1000);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start(token);
    else showLogin('');
  });
})();
