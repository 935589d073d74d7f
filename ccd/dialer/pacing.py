"""Predictive pacing core: how many calls a campaign places now (pure, no IO).

The dialer feeds it what happened to its calls (``handle(event, now)``) and, every tick,
asks ``decide(floor, today, rolling, now)``: the ``Floor`` is the campaign's live state
(agents free, agents busy with the time since their call was connected, calls ringing with
the time since they were placed, people answered and waiting for an agent), ``today`` and
``rolling`` the compliance tallies (``AbandonTally``: live-answered and abandoned calls
today and over the rolling 30 days). The answer is a ``Decision``: how many calls to place
and why.

Estimates (kept from events, windowed so they follow the list as it changes):

- **Answer rate** ``p`` = people answering / attempts, over the last ``SHORT_WINDOW`` and
  the last ``LONG_WINDOW`` attempts; the long one is used unless the short one is higher
  by more than two of its standard errors (a rising answer rate is the dangerous change:
  it makes every call already ringing more likely to need an agent, so the short window
  reacts to it within a few seconds of calls; the plain higher of the two would be biased
  up by the short window's noise, and underdial). Before data the
  windows are topped up with ``PRIOR_ATTEMPTS`` imaginary attempts that a person answered:
  ``p`` starts at 1 (one call per free agent, progressive) and falls to the measured rate
  as the first ``PRIOR_ATTEMPTS`` attempts come in.
- **Time to answer**: the ring times of the last ``RING_WINDOW`` people who answered, and
  the ring times of every outcome (the last ``LONG_WINDOW``): a call that has been ringing
  ``e`` seconds is answered by a person with probability
  ``p * P(person's ring > e) / P(any ring > e)`` (the longer it rings, the likelier it ends
  in no-answer). Before ``MIN_RING_SAMPLES`` people's ring times are known every ringing
  call is a person with probability ``p``: a few samples have no tail, and a call that has
  rung longer than every ring seen so far would count as a certain no-answer (with the
  clean start below, that let a simulated 20-agent campaign abandon 4 people in its first
  30 s).
- **Handle time** (talk + wrap-up): the last ``HANDLE_WINDOW`` calls. An agent whose call
  has lasted ``e`` seconds is free within ``h`` seconds with probability
  ``P(e < H <= e + h) / P(H > e)`` (the empirical distribution, not an exponential: talk
  times are not memoryless). Before ``MIN_HANDLE_SAMPLES`` calls have ended no busy agent
  is expected to become free (the sane start: only free agents are counted).
- **Connect delay** (answer → agent connected): an EWMA, taken off the 2 s window.

Model (``PREDICTIVE``). The calls placed now are answered, if by a person, about
``h`` = the mean ring time of people later. Over that horizon:

- people to serve ``H`` = the ones waiting now + each ringing call's chance of a person +
  ``n * p`` for ``n`` new calls (mean and variance of a sum of Bernoullis);
- agents ``F`` = the free ones + each busy agent's chance of being free within
  ``h + W``, ``W`` = ``ABANDON_AFTER_S`` minus the connect delay (a person waits at most
  that long for an agent before the call counts abandoned);
- expected abandons ``A(n) = E[max(0, H - F)]`` with ``H - F`` taken as normal (mean and
  variance above; exact when both are sums of many small Bernoullis, conservative for
  few calls since the normal's tail is wider than the binomial's at the low end).

The dialer places the largest ``n`` with

1. ``A(n) <= target * E[H]``: the calls ringing after this tick are expected to be
   abandoned at most at ``target`` = ``AIM`` x the cap (half of it: the estimates lag the
   list and the model is an approximation; what is left of the cap absorbs both), tapered
   linearly to 0 as today's or the rolling rate climbs from ``AIM`` x cap to the cap;
2. for today and the rolling 30 days alike, ``abandoned + U(n) <= cap x (answered +
   E[H])`` with ``U(n)`` the abandons of an unlucky tick, ``max(0, mean + UNLUCKY_Z x
   sigma)`` of ``H - F`` (4 sigma: abandons come in correlated bursts over several
   ticks, and with 2 sigma a 20-agent day reached 5-16 % in its first half hour in the
   simulator): the projected rate stays under the cap even then (this is what keeps
   the first predictive minutes of a day, when a few abandons are a large share of
   today's few answers, careful);
3. the bound: ``E[H] <= E[F]`` (never more people expected than agents), at most
   ``MAX_LINES_PER_AGENT`` calls in flight per logged-in agent, and at most the
   campaign's ``max_in_flight`` (trunk lines) when set;

and never fewer than progressive would place (which cannot abandon anyone).

**Near the cap** (today's or the rolling 30-day tally): its rate is at least
``NEAR_CAP_FRACTION`` (90 %) of the cap, or one more abandoned call now would put it over
the cap (``(abandoned + 1) / (answered + 1) > cap``: a day's first 1 / cap people, 34 at
3 %). Near the cap the dialer is progressive on its own until the tally is clear again,
with one exception, the **clean start**: a tally near the cap only because it is young
(nothing abandoned yet, under 1 / cap answered) still allows predictive calls, provided an
unlucky tick abandons nobody (``U(n) = 0``, i.e. ``mean + UNLUCKY_Z x sigma <= 0``; rule 2
alone would allow ``U(n)`` up to ``cap x (answered + E[H])``, most of one person). The
first abandon ends it: the tally is then near the cap by the rule above, and the dialer
progressive, until about 2 / cap people have answered. (Progressive until 1 / cap people
had answered kept 86 of 100 simulated agents idle for the first ~2 minutes of a day at a
10 % answer rate.)

``PROGRESSIVE``: ``free - ringing - waiting`` (an agent is reserved for every call in
flight: a person who answers always has one). ``PREVIEW``: the pacer places nothing (the
agent dials). No agents logged in: nothing, whatever the mode.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ccd.dialer.model import ABANDON_AFTER_S, AbandonTally, Campaign, DialMode, Outcome

SHORT_WINDOW = 100  # attempts: reacts to a rising answer rate within seconds of calls
LONG_WINDOW = 500  # attempts: the steady estimate (and the ring times of every outcome)
RING_WINDOW = 200  # people's ring times
HANDLE_WINDOW = 300  # handle times (talk + wrap-up)
PRIOR_ATTEMPTS = 50  # imaginary answered attempts before data: start progressive
MIN_HANDLE_SAMPLES = 20  # before that many calls ended, busy agents never count as freeing
MIN_RING_SAMPLES = 20  # before that many people's rings, a ringing call is a person with p
DEFAULT_RING_S = 8.0  # a person's ring time before any was seen
CONNECT_ALPHA = 0.1
HORIZON_SCALE = 1.0
AIM = 0.5  # aim the new calls' abandonment at half the cap
NEAR_CAP_FRACTION = 0.9  # a tally at 90 % of the cap is "near": progressive
UNLUCKY_Z = 4.0  # an unlucky tick: mean + 4 sigma (2 let 20-agent days start at 5-16 %)
MAX_LINES_PER_AGENT = 20  # calls in flight per logged-in agent, whatever the estimates
_SEARCH_LIMIT = 1 << 16
MAX_PENDING = 10_000  # calls waited for in order (a lost result is given up on)
# Ends a sorted window walked by the sweeps below: NaN compares false, so a walk stops there
# whatever the elapsed time (even an infinite one).
_END = math.nan


# ---- events (what happened to the campaign's calls) ---------------------------------


@dataclass(frozen=True, slots=True)
class CallPlaced:
    """An Originate went out for the campaign."""

    call_id: str


@dataclass(frozen=True, slots=True)
class RingEnded:
    """How a placed call's ring ended, ``ring_s`` after it was placed. ``ANSWERED`` and
    ``ABANDONED`` both mean a person picked up (whether an agent then came is not known
    yet, and does not matter to the answer rate); ``MACHINE``, ``NO_ANSWER``, ``BUSY``,
    ``FAILED`` as in ``Outcome``."""

    call_id: str
    outcome: Outcome
    ring_s: float


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """A person who answered was connected to an agent ``wait_s`` after answering."""

    call_id: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """An agent's call ended, ``handle_s`` = talk + wrap-up (send it when the agent is
    ready again)."""

    call_id: str
    handle_s: float


PacingEvent = CallPlaced | RingEnded | AgentConnected | CallEnded

_PERSON = frozenset({Outcome.ANSWERED, Outcome.ABANDONED})


# ---- the live state and the decision ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Floor:
    """The campaign's live state at a tick.

    ``free``: agents ready for a campaign call (idle, or reserved for a call still
    ringing). ``busy_elapsed_s``: per agent on a call or in wrap-up, seconds since the call
    was connected. ``ringing_s``: per call in flight, seconds since it was placed.
    ``waiting``: people who answered and wait for an agent (the 2 s are running)."""

    free: int
    busy_elapsed_s: Sequence[float] = ()
    ringing_s: Sequence[float] = ()
    waiting: int = 0

    @property
    def agents(self) -> int:
        return self.free + len(self.busy_elapsed_s)


@dataclass(frozen=True, slots=True)
class Decision:
    place: int  # new calls to place now
    mode: DialMode  # how they were decided (PROGRESSIVE when predictive fell back)
    reason: str  # "predictive", "clean start", "progressive", "near cap: today", "no agents", ...
    answer_rate: float  # the estimate used
    expected_people: float  # E[H] with the new calls
    expected_agents: float  # E[F]
    expected_abandons: float  # A(n) with the new calls
    dial_ratio: float  # calls in flight after this tick per expected agent


@dataclass(frozen=True, slots=True)
class Estimates:
    answer_rate: float
    attempts_seen: int
    person_ring_s: float
    handle_s: float | None  # mean of the window; None before the first call ended
    connect_delay_s: float


# ---- windows ------------------------------------------------------------------------


class _SortedWindow:
    """The last ``size`` samples, also kept sorted (the pacer walks them against the floor's
    elapsed times, sorted too)."""

    __slots__ = ("_order", "_size", "sorted")

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[float] = deque()
        self.sorted: list[float] = []

    def add(self, value: float) -> None:
        self._order.append(value)
        bisect.insort(self.sorted, value)
        if len(self._order) > self._size:
            old = self._order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    def __len__(self) -> int:
        return len(self.sorted)

    def mean(self) -> float:
        return sum(self.sorted) / len(self.sorted)


class _Rate:
    """People / attempts over the last ``size`` attempts, topped up with the prior."""

    __slots__ = ("_order", "_people", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[bool] = deque()
        self._people = 0

    def add(self, person: bool) -> None:
        self._order.append(person)
        self._people += person
        if len(self._order) > self._size:
            self._people -= self._order.popleft()

    @property
    def seen(self) -> int:
        return len(self._order)

    @property
    def value(self) -> float:
        seen = len(self._order)
        return (self._people + max(0, PRIOR_ATTEMPTS - seen)) / max(seen, PRIOR_ATTEMPTS)


class _InOrder:
    """Results learnt in the order their calls started, each once every call started
    before it has a result too (see ``Pacer.handle``). A call whose result never comes
    stops being waited for after ``MAX_PENDING`` later calls."""

    __slots__ = ("_order", "_results")

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._results: dict[str, tuple[bool, float] | None] = {}

    def start(self, call_id: str) -> None:
        self._order.append(call_id)
        self._results[call_id] = None
        if len(self._order) > MAX_PENDING:
            self._results.pop(self._order.popleft(), None)

    def result(self, call_id: str, value: tuple[bool, float]) -> list[tuple[bool, float]] | None:
        """The results now learnt, oldest first; None for a call never started here."""
        if call_id not in self._results:
            return None
        self._results[call_id] = value
        ready: list[tuple[bool, float]] = []
        order, results = self._order, self._results
        while order:
            head = results[order[0]]
            if head is None:
                break
            del results[order.popleft()]
            ready.append(head)
        return ready


# ---- the pacer ----------------------------------------------------------------------


class Pacer:
    def __init__(self, mode: DialMode, cap_pct: float, *, max_in_flight: int | None = None) -> None:
        if not 0 < cap_pct <= 100:
            raise ValueError("abandonment cap must be more than 0 and at most 100 %")
        self.mode = mode
        self.cap = cap_pct / 100.0
        self.max_in_flight = max_in_flight
        self._short = _Rate(SHORT_WINDOW)
        self._long = _Rate(LONG_WINDOW)
        self._attempts_seen = 0
        self._person_ring = _SortedWindow(RING_WINDOW)
        self._any_ring = _SortedWindow(LONG_WINDOW)
        self._handle = _SortedWindow(HANDLE_WINDOW)
        self._connect_delay = 0.0
        self._connects = 0
        # Learnt in the order calls were placed / connected (see handle).
        self._rings = _InOrder()
        self._talks = _InOrder()

    @classmethod
    def for_campaign(cls, campaign: Campaign, *, max_in_flight: int | None = None) -> Pacer:
        return cls(campaign.mode, campaign.abandon_cap_pct, max_in_flight=max_in_flight)

    # ---- estimates ----

    def handle(self, event: PacingEvent, now: float) -> None:
        """Update the estimates (``now`` is unused today; the signature is the cores').

        Ring and handle times are learnt in the order the calls were placed (connected),
        each once every call placed (connected) before it has ended too. Learnt in the
        order they end, a burst of calls would first teach "busy" (ends in 1-3 s), then
        "person" (~8 s), then "no answer" (the whole ring timeout), and the answer rate
        would swing with every burst; and the first handle times of a day would be the
        shortest calls only (the long ones have not ended yet), so busy agents would look
        about to be free. In order, every window is a fair sample, a ring timeout (or the
        longest call) late."""
        del now
        if isinstance(event, RingEnded):
            person = event.outcome in _PERSON
            ring = (person, max(0.0, event.ring_s))
            learnt = self._rings.result(event.call_id, ring)
            for result in [ring] if learnt is None else learnt:
                self._learn(*result)
        elif isinstance(event, CallEnded):
            handle = (True, max(0.0, event.handle_s))
            learnt = self._talks.result(event.call_id, handle)
            for _, handle_s in [handle] if learnt is None else learnt:
                self._handle.add(handle_s)
        elif isinstance(event, AgentConnected):
            self._talks.start(event.call_id)
            wait = max(0.0, event.wait_s)
            if self._connects == 0:
                self._connect_delay = wait
            else:
                self._connect_delay += CONNECT_ALPHA * (wait - self._connect_delay)
            self._connects += 1
        else:
            self._rings.start(event.call_id)

    def _learn(self, person: bool, ring_s: float) -> None:
        self._short.add(person)
        self._long.add(person)
        self._attempts_seen += 1
        self._any_ring.add(ring_s)
        if person:
            self._person_ring.add(ring_s)

    @property
    def answer_rate(self) -> float:
        # The short window wins only when it is higher by more than its own noise (two
        # standard errors): a real rise, not the luck of the last hundred calls (taking
        # the plain maximum of the two would bias the rate up and underdial).
        short = self._short.value
        noise = 2.0 * math.sqrt(short * (1.0 - short) / max(self._short.seen, PRIOR_ATTEMPTS))
        return max(self._long.value, short - noise)

    def _person_ring_s(self) -> float:
        return self._person_ring.mean() if self._person_ring else DEFAULT_RING_S

    def estimates(self) -> Estimates:
        return Estimates(
            answer_rate=self.answer_rate,
            attempts_seen=self._attempts_seen,
            person_ring_s=self._person_ring_s(),
            handle_s=self._handle.mean() if self._handle else None,
            connect_delay_s=self._connect_delay,
        )

    # ---- the decision ----

    def clean_start(self, today: AbandonTally, rolling: AbandonTally) -> bool:
        """Near the cap only because a tally is young: no tally at ``NEAR_CAP_FRACTION`` of
        the cap, and every tally one abandon would put over the cap has none yet."""
        for tally in (today, rolling):
            if tally.rate_pct >= NEAR_CAP_FRACTION * 100.0 * self.cap:
                return False
            if tally.abandoned > 0 and tally.abandoned + 1 > self.cap * (tally.answered + 1):
                return False
        return True

    def near_cap(self, today: AbandonTally, rolling: AbandonTally) -> str | None:
        """Which tally is near the cap ("today" / "rolling"), None when neither is."""
        for name, tally in (("today", today), ("rolling", rolling)):
            if tally.rate_pct >= NEAR_CAP_FRACTION * 100.0 * self.cap:
                return name
            if tally.abandoned + 1 > self.cap * (tally.answered + 1):
                return name
        return None

    def _target(self, today: AbandonTally, rolling: AbandonTally) -> float:
        aim = AIM * self.cap
        taper = 1.0
        for tally in (today, rolling):
            rate = tally.rate_pct / 100.0
            if rate > aim:
                taper = min(taper, max(0.0, (self.cap - rate) / (self.cap - aim)))
        return aim * taper

    def decide(
        self, floor: Floor, today: AbandonTally, rolling: AbandonTally, now: float
    ) -> Decision:
        del now  # estimates carry no timestamps: the floor's elapsed times are relative
        p = self.answer_rate
        ringing = len(floor.ringing_s)
        progressive = max(0, floor.free - ringing - floor.waiting)
        if self.max_in_flight is not None:
            progressive = min(progressive, max(0, self.max_in_flight - ringing))
        if floor.agents == 0:
            return self._decision(0, DialMode.PROGRESSIVE, "no agents", p, 0, 0, 0, 0, ringing)
        if self.mode is DialMode.PREVIEW:
            return self._decision(0, DialMode.PREVIEW, "preview", p, 0, 0, 0, 0, ringing)
        if self.mode is DialMode.PROGRESSIVE:
            return self._progressive(progressive, "progressive", p, floor)
        near = self.near_cap(today, rolling)
        clean_start = near is not None and self.clean_start(today, rolling)
        if near is not None and not clean_start:
            return self._progressive(progressive, f"near cap: {near}", p, floor)

        # Not self.estimates(): p is already known and the handle-time mean is not used.
        horizon = HORIZON_SCALE * self._person_ring_s()
        window = max(0.0, ABANDON_AFTER_S - self._connect_delay)
        agents_mean, agents_var = self._agents(floor, horizon + window)
        people_mean_ringing, people_var = self._ringing_people(floor, p)
        people_mean = people_mean_ringing + floor.waiting
        target = self._target(today, rolling)

        # The answer rate is itself an estimate from ``seen`` attempts: its error moves
        # every call's chance together, so it adds (calls x its standard error)^2.
        seen = max(PRIOR_ATTEMPTS, min(self._attempts_seen, LONG_WINDOW))
        rate_var = p * (1 - p) / seen
        ringing_calls = people_mean_ringing / p if p > 0 else 0.0

        def abandons(n: int) -> tuple[float, float, float]:
            people = people_mean + n * p
            mean = people - agents_mean
            calls = ringing_calls + n
            var = people_var + n * p * (1 - p) + agents_var + calls * calls * rate_var
            sigma = math.sqrt(var)
            return _expected_excess(mean, sigma), max(0.0, mean + UNLUCKY_Z * sigma), people

        def ok(n: int) -> bool:
            excess, unlucky, people = abandons(n)
            if excess > target * people:
                return False
            if clean_start and unlucky > 0.0:
                return False  # one abandon would put a young tally over the cap
            for tally in (today, rolling):
                if tally.abandoned + unlucky > self.cap * (tally.answered + people):
                    return False
            return True

        # The bound: no more people expected than agents, and the hard line limits.
        lines = min(
            MAX_LINES_PER_AGENT * floor.agents,
            self.max_in_flight if self.max_in_flight is not None else _SEARCH_LIMIT,
        )
        room = (agents_mean - people_mean) / p if p > 0 else float(_SEARCH_LIMIT)
        high = max(progressive, min(math.floor(max(0.0, room)), lines - ringing))
        low = progressive
        if high > low and ok(low + 1):
            # Largest n in [low + 1, high] with ok(n); A(n) grows with n.
            low += 1
            while low < high:
                mid = (low + high + 1) // 2
                if ok(mid):
                    low = mid
                else:
                    high = mid - 1
        excess, _, people = abandons(low)
        return self._decision(
            low,
            DialMode.PREDICTIVE,
            "clean start" if clean_start else "predictive",
            p,
            people,
            agents_mean,
            excess,
            agents_mean,
            ringing,
        )

    def _progressive(self, place: int, reason: str, p: float, floor: Floor) -> Decision:
        ringing = len(floor.ringing_s)
        people = floor.waiting + (ringing + place) * p
        return self._decision(
            place, DialMode.PROGRESSIVE, reason, p, people, floor.free, 0.0, floor.free, ringing
        )

    @staticmethod
    def _decision(
        place: int,
        mode: DialMode,
        reason: str,
        p: float,
        people: float,
        agents: float,
        abandons: float,
        ratio_base: float,
        ringing: int,
    ) -> Decision:
        return Decision(
            place=place,
            mode=mode,
            reason=reason,
            answer_rate=p,
            expected_people=people,
            expected_agents=agents,
            expected_abandons=abandons,
            dial_ratio=(ringing + place) / max(ratio_base, 1.0),
        )

    def _agents(self, floor: Floor, within_s: float) -> tuple[float, float]:
        """Mean and variance of the agents free within ``within_s``.

        The busy agents are taken shortest call first, so the handle times already reached
        (``<= elapsed``) and reached within the horizon (``<= elapsed + within_s``) only
        grow: one walk of the sorted window counts them for every agent, in place of two
        bisections per agent. The sums are those over the floor in its own order, up to
        float rounding (the same terms, added in another order)."""
        mean = float(floor.free)
        var = 0.0
        total = len(self._handle.sorted)
        if total < MIN_HANDLE_SAMPLES:
            return mean, var
        handle = [*self._handle.sorted, _END]
        ended = 0  # handle times <= elapsed
        ended_within = 0  # handle times <= elapsed + within_s
        for elapsed in sorted(floor.busy_elapsed_s):
            while handle[ended] <= elapsed:
                ended += 1
            if ended == total:
                # This call and the rest are longer than every call in the window: no
                # telling when they end.
                break
            end = elapsed + within_s
            while handle[ended_within] <= end:
                ended_within += 1
            q = (ended_within - ended) / (total - ended)
            mean += q
            var += q * (1.0 - q)
        return mean, var

    def _ringing_people(self, floor: Floor, p: float) -> tuple[float, float]:
        """Mean and variance of the people among the calls ringing now.

        The calls are taken shortest ring first, walking the two sorted ring windows once
        (as in ``_agents``); a call's chance is the previous call's until its ring reaches
        the next ring time in either window."""
        n_person = len(self._person_ring.sorted)
        n_every = len(self._any_ring.sorted)
        if n_person < MIN_RING_SAMPLES or not n_every:
            n = len(floor.ringing_s)
            return n * p, n * p * (1.0 - p)
        person = [*self._person_ring.sorted, _END]
        every = [*self._any_ring.sorted, _END]
        rang = 0  # ring times of every outcome <= elapsed
        rang_person = 0  # people's ring times <= elapsed
        mean = 0.0
        var = 0.0
        q = 0.0
        q_var = 0.0
        change = -math.inf  # the next ring time in either window: q is stale from there
        for elapsed in sorted(floor.ringing_s):
            if elapsed >= change:
                while every[rang] <= elapsed:
                    rang += 1
                if rang == n_every:
                    break  # this call and the rest rang longer than any call seen: time-outs
                while person[rang_person] <= elapsed:
                    rang_person += 1
                still = n_every - rang
                q = p * ((n_person - rang_person) / n_person) * (n_every / still)
                q = min(q, 1.0)
                q_var = q * (1.0 - q)
                following = person[rang_person]
                change = following if following < every[rang] else every[rang]
            mean += q
            var += q_var
        return mean, var


def _expected_excess(mean: float, sigma: float) -> float:
    """E[max(0, X)] for X normal with this mean and standard deviation."""
    if sigma <= 1e-9:
        return max(0.0, mean)
    z = mean / sigma
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    below = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    return sigma * density + mean * below
