"""The dialer's calls on Asterisk, as a pure state machine (like ``ccd.acd.rings``): one
customer leg per dial attempt, from the Originate to the hang-up, with the agent it is
connected to. Events in, commands out, no IO: the dialer service passes ``now`` and carries
the commands out (AMI operations, agent reservations in the ACD, writes to the attempt
records, pacing events).

An attempt's life (keyed by ``channel_id``, the customer leg's uniqueid, known before the
Originate is written):

- ``Placed`` → ``Originate``. The Originate fails (``OriginateFailed``: busy, no answer,
  congestion) → ``Finished`` with that outcome; its reserved agent is released. The leg
  often hangs up just before that answer: ``CustomerGone`` while dialing frees the agent
  and waits ``ORIGINATE_RESULT_WAIT_S`` for it, then ends ``NO_ANSWER``.
- ``Answered`` (the dialplan's ``CcdDialerAnswered``: the answer, after AMD when it is on):
  * a **machine** (AMD ``MACHINE``) is hung up, or sent to the machine message, per the
    campaign; outcome ``MACHINE``. Any agent reserved for it is released.
  * a **person** (``HUMAN``, ``NOTSURE``, ``OFF``; and ``HANGUP``, someone who hung up during
    detection: counted as a person, the conservative reading) needs an agent within
    ``ABANDON_AFTER_S`` of the answer: the reserved one is rung at once, else ``FindAgent``
    asks the service for a free one (again on every ``Tick`` until one is found).
- ``AgentConnected`` (the agent's leg entered the bridge) → the call is ``ANSWERED``.
- **The 2-second rule**: on the first ``Tick`` past ``answered_at + ABANDON_AFTER_S``
  without an agent, the agent's ring (if any) is cancelled and the person hears the
  safe-harbor message (``PlayMessage``; or is hung up on when the campaign has none): the
  call is ``ABANDONED`` — also when the person hangs up before an agent came.
- ``CustomerGone`` (the customer leg hung up) ends the attempt: ``Finished``; once an
  agent is connected, so does the agent leg's hang-up (``AgentLegGone``; the other leg
  follows). The agent starts wrap-up (``AgentCallEnded``) until the disposition (``Disposed``) or
  ``max_wrapup_s`` (an agent who never disposes is not lost to the campaign), when its
  handle time goes to the pacing. A disposition given during the call ends the wrap-up
  before it starts (``AgentCallEnded`` with ``wrapup_s`` 0).
- A call whose Originate answer never came is given up after its ring timeout plus
  ``LOST_ORIGINATE_GRACE_S``: ``HangUp`` (in case it rings anyway) and ``FAILED``.

Agents' sides of the call (rings) are keyed by ``ring_id`` (the agent leg's uniqueid).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from ccd.dialer.model import ABANDON_AFTER_S, AmdMode, Outcome
from ccd.dialer.pacing import AgentConnected as PacedConnect
from ccd.dialer.pacing import CallEnded as PacedEnd
from ccd.dialer.pacing import CallPlaced, PacingEvent, RingEnded
from ccd.domain.contract import AmdStatus

# Asterisk's Originate failure reasons (AST_CONTROL_*): 1 hung up (the dialplan's Dial
# ended without an answer), 3 ring timeout, 5 busy, 8 congestion; 0 and others: failed.
_REASON_OUTCOMES = {1: Outcome.NO_ANSWER, 3: Outcome.NO_ANSWER, 5: Outcome.BUSY}
# An Originate whose answer never came (lost with the AMI connection) is given up this
# long after its ring timeout.
LOST_ORIGINATE_GRACE_S = 10.0
# A customer leg that hung up unanswered waits this long for the OriginateResponse that
# tells busy from no answer from congestion.
ORIGINATE_RESULT_WAIT_S = 2.0
# An outbound call's wrap-up lasts until the agent's disposition, at most this long.
DEFAULT_MAX_WRAPUP_S = 120.0
# An agent's ring for a waiting person: as long as the 2 s allow, the deadline cancels it.
AGENT_RING_S = 15.0


class Message(enum.Enum):
    SAFE_HARBOR = "safe-harbor"
    MACHINE = "machine"


class Stage(enum.Enum):
    DIALING = "dialing"  # Originate out, the customer's phone rings
    WAITING = "waiting"  # a person answered; the 2 s run until an agent is connected
    CONNECTED = "connected"  # talking to an agent
    MESSAGE = "message"  # hearing the safe-harbor or machine message, or being hung up on


@dataclass(frozen=True, slots=True)
class DialRequest:
    """What the service decided to dial (the attempt is claimed in the database)."""

    attempt_id: int
    channel_id: str
    campaign_id: str
    contact_id: str
    number: str
    ring_timeout_s: float
    amd: AmdMode
    safe_harbor: bool  # the campaign has a safe-harbor message
    machine_message: bool  # the campaign leaves answering machines a message
    agent_id: str | None = None  # reserved before the call (progressive, preview, call back)
    server: str = ""  # the Asterisk server the call is placed on (the campaign's)


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placed:
    request: DialRequest


@dataclass(frozen=True, slots=True)
class Adopted:
    """A call a previous run placed, still up in Asterisk after a restart: tracked from
    where the records left it (a connected one ends with its customer leg)."""

    request: DialRequest
    placed_at: float
    answered_at: float | None = None
    person: bool = True
    connected_at: float | None = None


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    """The customer leg's Originate failed (``reason``: Asterisk's), or was never
    written (``reason`` None: nothing dialed)."""

    channel_id: str
    reason: int | None


@dataclass(frozen=True, slots=True)
class Answered:
    channel_id: str
    amd_status: str  # AmdStatus


@dataclass(frozen=True, slots=True)
class AgentFound:
    """The service reserved ``agent_id`` in the ACD for the waiting person."""

    channel_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentRingFailed:
    ring_id: str


@dataclass(frozen=True, slots=True)
class AgentLegGone:
    """The agent's leg hung up: a ring that failed, or the end of the conversation."""

    ring_id: str


@dataclass(frozen=True, slots=True)
class AgentConnected:
    ring_id: str


@dataclass(frozen=True, slots=True)
class MessageStarted:
    channel_id: str


@dataclass(frozen=True, slots=True)
class CustomerGone:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Disposed:
    """The agent set the disposition of a connected call (its wrap-up ended)."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class Tick:
    pass


CallEvent = (
    Placed
    | Adopted
    | OriginateFailed
    | Answered
    | AgentFound
    | AgentRingFailed
    | AgentLegGone
    | AgentConnected
    | MessageStarted
    | CustomerGone
    | Disposed
    | Tick
)

# ---- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Originate:
    request: DialRequest


@dataclass(frozen=True, slots=True)
class FindAgent:
    """Reserve a free agent of the campaign for the waiting person (``AgentFound``)."""

    channel_id: str
    campaign_id: str


@dataclass(frozen=True, slots=True)
class RingAgent:
    """Ring ``agent_id`` (reserved) and bridge it with the customer leg."""

    ring_id: str
    agent_id: str
    request: DialRequest
    timeout_s: float


@dataclass(frozen=True, slots=True)
class HangUp:
    """Hang up a channel (a customer leg or an agent's ring) by uniqueid."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class PlayMessage:
    channel_id: str
    message: Message


@dataclass(frozen=True, slots=True)
class ReleaseAgent:
    agent_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class AgentOnCall:
    agent_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class AgentCallEnded:
    """The agent's call ended: wrap-up until the disposition, at most ``wrapup_s``."""

    agent_id: str
    channel_id: str
    wrapup_s: float


@dataclass(frozen=True, slots=True)
class RecordAnswered:
    attempt_id: int
    at: float
    amd_status: str


@dataclass(frozen=True, slots=True)
class RecordConnected:
    attempt_id: int
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class RecordMessage:
    attempt_id: int
    at: float


@dataclass(frozen=True, slots=True)
class Settled:
    """The attempt's outcome is known (before its channels are gone when it can be: the
    call's record must carry it)."""

    channel_id: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Finished:
    """The attempt ended: write its outcome and decide the contact's next step."""

    request: DialRequest
    outcome: Outcome
    at: float
    agent_id: str | None  # the agent who talked to the person (ANSWERED)
    answered_at: float | None = None
    connected_at: float | None = None


@dataclass(frozen=True, slots=True)
class Pace:
    """For the campaign's pacer."""

    campaign_id: str
    event: PacingEvent


CallCommand = (
    Originate
    | FindAgent
    | RingAgent
    | HangUp
    | PlayMessage
    | ReleaseAgent
    | AgentOnCall
    | AgentCallEnded
    | RecordAnswered
    | RecordConnected
    | RecordMessage
    | Settled
    | Finished
    | Pace
)


# ---- state --------------------------------------------------------------------------


@dataclass(slots=True)
class DialerCall:
    request: DialRequest
    placed_at: float
    stage: Stage = Stage.DIALING
    answered_at: float | None = None
    person: bool = True
    agent_id: str | None = None  # reserved, ringing or connected
    ring_id: str | None = None  # the agent's ring in progress
    rings: int = 0
    connected_at: float | None = None
    outcome: Outcome | None = None  # decided before the hang-up (machine, abandoned)
    disposed: bool = False  # the agent gave the disposition during the call
    gone_at: float | None = None  # the customer leg hung up before any answer
    tried: set[str] = field(default_factory=set)

    @property
    def channel_id(self) -> str:
        return self.request.channel_id


@dataclass(frozen=True, slots=True)
class CallView:
    """One call for the live view."""

    channel_id: str
    attempt_id: int
    campaign_id: str
    contact_id: str
    stage: Stage
    placed_at: float
    answered_at: float | None
    agent_id: str | None


class CallTracker:
    def __init__(
        self, *, deadline_margin_s: float = 0.0, max_wrapup_s: float = DEFAULT_MAX_WRAPUP_S
    ) -> None:
        # The 2 s are checked on ticks: a person is given up on this much early, so that
        # a tick's lateness never makes a call later than the rule.
        self._give_up_after_s = ABANDON_AFTER_S - deadline_margin_s
        self._max_wrapup_s = max_wrapup_s
        self._calls: dict[str, DialerCall] = {}
        self._rings: dict[str, str] = {}  # ring_id -> channel_id
        # Connected calls whose customer hung up, until the agent's disposition (or
        # max_wrapup_s): channel_id -> (campaign, connected at, wrap-up ends at).
        self._wrapping: dict[str, tuple[str, float, float]] = {}

    # ---- read side ----

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._calls

    def calls(self) -> Iterator[DialerCall]:
        return iter(self._calls.values())

    def call(self, channel_id: str) -> DialerCall | None:
        return self._calls.get(channel_id)

    def wrapping(self) -> Iterator[tuple[str, float]]:
        """(campaign id, connected at) of every call whose agent is in wrap-up."""
        return ((campaign, connected) for campaign, connected, _ in self._wrapping.values())

    def ring_of(self, ring_id: str) -> str | None:
        """The customer leg an agent's ring belongs to."""
        return self._rings.get(ring_id)

    def view(self, call: DialerCall) -> CallView:
        return CallView(
            call.channel_id,
            call.request.attempt_id,
            call.request.campaign_id,
            call.request.contact_id,
            call.stage,
            call.placed_at,
            call.answered_at,
            call.agent_id,
        )

    # ---- events ----

    def handle(self, event: CallEvent, now: float) -> list[CallCommand]:
        out: list[CallCommand] = []
        match event:
            case Placed(request=request):
                self._placed(request, now, out)
            case Adopted():
                self._adopted(event, out)
            case OriginateFailed(channel_id=channel_id, reason=reason):
                call = self._calls.get(channel_id)
                if call is not None and call.stage is Stage.DIALING:
                    outcome = Outcome.FAILED if reason is None else _outcome_of(reason)
                    self._ring_ended(call, outcome, now, out)
                    self._finish(call, outcome, now, out)
            case Answered(channel_id=channel_id, amd_status=amd_status):
                call = self._calls.get(channel_id)
                if call is not None and call.stage is Stage.DIALING and call.gone_at is None:
                    self._answered(call, amd_status, now, out)
            case AgentFound(channel_id=channel_id, agent_id=agent_id):
                call = self._calls.get(channel_id)
                if call is None or call.stage is not Stage.WAITING or call.agent_id:
                    out.append(ReleaseAgent(agent_id, channel_id))  # not needed (any more)
                else:
                    call.agent_id = agent_id
                    self._ring(call, out)
            case AgentRingFailed(ring_id=ring_id):
                self._ring_failed(ring_id, now, out)
            case AgentLegGone(ring_id=ring_id):
                self._agent_leg_gone(ring_id, now, out)
            case AgentConnected(ring_id=ring_id):
                self._connected(ring_id, now, out)
            case MessageStarted(channel_id=channel_id):
                call = self._calls.get(channel_id)
                if call is not None and call.stage is Stage.MESSAGE:
                    out.append(RecordMessage(call.request.attempt_id, now))
            case CustomerGone(channel_id=channel_id):
                self._gone(channel_id, now, out)
            case Disposed(channel_id=channel_id):
                live = self._calls.get(channel_id)
                if live is not None and live.stage is Stage.CONNECTED:
                    live.disposed = True
                else:
                    self._wrap_up_ended(channel_id, now, out)
            case Tick():
                for call in list(self._calls.values()):
                    self._check_deadlines(call, now, out)
                for channel_id, (_, _, ends_at) in list(self._wrapping.items()):
                    if now >= ends_at:
                        self._wrap_up_ended(channel_id, now, out)
        return out

    def _placed(self, request: DialRequest, now: float, out: list[CallCommand]) -> None:
        if request.channel_id in self._calls:
            return
        call = DialerCall(request, placed_at=now, agent_id=request.agent_id)
        self._calls[request.channel_id] = call
        out.append(Pace(request.campaign_id, CallPlaced(request.channel_id)))
        out.append(Originate(request))

    def _adopted(self, event: Adopted, out: list[CallCommand]) -> None:
        """Back in its stage: connected (the agent leg ends it), a person waiting (long
        past the 2 s: the next Tick gives up on them), a machine (hung up), or ringing."""
        request = event.request
        if request.channel_id in self._calls:
            return
        call = DialerCall(request, placed_at=event.placed_at, agent_id=request.agent_id)
        call.answered_at = event.answered_at
        call.person = event.person
        self._calls[request.channel_id] = call
        if event.connected_at is not None and call.agent_id:
            call.stage = Stage.CONNECTED
            call.connected_at = event.connected_at
            call.outcome = Outcome.ANSWERED
        elif event.answered_at is not None and event.person:
            call.stage = Stage.WAITING
        elif event.answered_at is not None:
            call.stage = Stage.MESSAGE
            self._settle(call, Outcome.MACHINE, out)
            out.append(HangUp(request.channel_id))

    def _answered(
        self, call: DialerCall, amd_status: str, now: float, out: list[CallCommand]
    ) -> None:
        request = call.request
        call.answered_at = now
        call.person = amd_status != AmdStatus.MACHINE
        out.append(RecordAnswered(request.attempt_id, now, amd_status))
        self._ring_ended(call, Outcome.ANSWERED if call.person else Outcome.MACHINE, now, out)
        if not call.person:
            self._settle(call, Outcome.MACHINE, out)
            self._release(call, out)
            if request.amd is AmdMode.LEAVE_MESSAGE and request.machine_message:
                self._message(call, Message.MACHINE, out)
            else:
                call.stage = Stage.MESSAGE
                out.append(HangUp(call.channel_id))
            return
        call.stage = Stage.WAITING
        if call.agent_id is not None:
            self._ring(call, out)
        else:
            out.append(FindAgent(call.channel_id, request.campaign_id))

    def _ring(self, call: DialerCall, out: list[CallCommand]) -> None:
        assert call.agent_id is not None
        call.rings += 1
        ring_id = _ring_id(call.channel_id, call.rings)
        call.ring_id = ring_id
        call.tried.add(call.agent_id)
        self._rings[ring_id] = call.channel_id
        out.append(RingAgent(ring_id, call.agent_id, call.request, AGENT_RING_S))

    def _ring_failed(self, ring_id: str, now: float, out: list[CallCommand]) -> None:
        channel_id = self._rings.get(ring_id)
        call = self._calls.get(channel_id) if channel_id is not None else None
        if call is not None and call.ring_id == ring_id and call.stage is Stage.CONNECTED:
            return  # the connected agent's leg: its hang-up ends the call (AgentLegGone)
        self._rings.pop(ring_id, None)
        if call is None or call.ring_id != ring_id or call.stage is not Stage.WAITING:
            return
        call.ring_id = None
        self._release(call, out)
        out.append(FindAgent(call.channel_id, call.request.campaign_id))

    def _connected(self, ring_id: str, now: float, out: list[CallCommand]) -> None:
        channel_id = self._rings.get(ring_id)
        call = self._calls.get(channel_id) if channel_id is not None else None
        if call is not None and call.ring_id == ring_id and call.stage is Stage.CONNECTED:
            return  # the connected agent's leg entering a bridge again: nothing new
        if call is None or call.ring_id != ring_id or call.stage is not Stage.WAITING:
            if channel_id is not None:
                out.append(HangUp(ring_id))  # a ring given up on answered anyway
            return
        assert call.agent_id is not None
        assert call.answered_at is not None
        call.stage = Stage.CONNECTED
        call.connected_at = now
        self._settle(call, Outcome.ANSWERED, out)
        out.append(AgentOnCall(call.agent_id, call.channel_id))
        out.append(RecordConnected(call.request.attempt_id, call.agent_id, now))
        out.append(
            Pace(call.request.campaign_id, PacedConnect(call.channel_id, now - call.answered_at))
        )

    def _gone(self, channel_id: str, now: float, out: list[CallCommand]) -> None:
        call = self._calls.get(channel_id)
        if call is None:
            return
        if call.stage is Stage.DIALING:
            # Busy, congestion, no answer: the leg often hangs up just before Asterisk's
            # OriginateResponse says which. Wait a moment for it (the agent is free now).
            if call.gone_at is None:
                call.gone_at = now
                self._release(call, out)
            return
        if call.stage is Stage.WAITING:
            # The person hung up before an agent came: abandoned (the letter of the rule).
            if call.ring_id is not None:
                out.append(HangUp(call.ring_id))
            self._release(call, out)
            self._finish(call, Outcome.ABANDONED, now, out)
            return
        if call.stage is Stage.CONNECTED:
            self._conversation_ended(call, now, out)
            return
        self._finish(call, call.outcome or Outcome.ABANDONED, now, out)

    def _agent_leg_gone(self, ring_id: str, now: float, out: list[CallCommand]) -> None:
        channel_id = self._rings.get(ring_id)
        call = self._calls.get(channel_id) if channel_id is not None else None
        if call is None or call.ring_id != ring_id:
            return
        if call.stage is not Stage.CONNECTED:
            self._ring_failed(ring_id, now, out)
            return
        self._conversation_ended(call, now, out)

    def _conversation_ended(self, call: DialerCall, now: float, out: list[CallCommand]) -> None:
        """Whichever leg hangs up first (the other follows): the agent goes to wrap-up."""
        assert call.agent_id is not None
        assert call.connected_at is not None
        wrapup_s = 0.0 if call.disposed else self._max_wrapup_s
        out.append(AgentCallEnded(call.agent_id, call.channel_id, wrapup_s))
        self._wrapping[call.channel_id] = (
            call.request.campaign_id,
            call.connected_at,
            now + wrapup_s,
        )
        self._finish(call, Outcome.ANSWERED, now, out)
        if call.disposed:
            self._wrap_up_ended(call.channel_id, now, out)

    def _check_deadlines(self, call: DialerCall, now: float, out: list[CallCommand]) -> None:
        if call.stage is Stage.DIALING:
            if call.gone_at is not None and now >= call.gone_at + ORIGINATE_RESULT_WAIT_S:
                # Hung up and no OriginateResponse came (lost with the AMI connection, or
                # a hang-up racing the UserEvent): nobody was reached.
                self._ring_ended(call, Outcome.NO_ANSWER, now, out)
                self._finish(call, Outcome.NO_ANSWER, now, out)
            elif now >= call.placed_at + call.request.ring_timeout_s + LOST_ORIGINATE_GRACE_S:
                out.append(HangUp(call.channel_id))
                self._release(call, out)
                self._ring_ended(call, Outcome.FAILED, now, out)
                self._finish(call, Outcome.FAILED, now, out)
            return
        if call.stage is not Stage.WAITING:
            return
        assert call.answered_at is not None
        if round(now - call.answered_at, 6) >= self._give_up_after_s:
            if call.ring_id is not None:
                # Kept in _rings until the call ends: an answer racing the hang-up is
                # hung up too (``_connected``).
                out.append(HangUp(call.ring_id))
                call.ring_id = None
            self._release(call, out)
            self._settle(call, Outcome.ABANDONED, out)
            if call.request.safe_harbor:
                self._message(call, Message.SAFE_HARBOR, out)
            else:
                call.stage = Stage.MESSAGE
                out.append(HangUp(call.channel_id))
        elif call.agent_id is None:
            out.append(FindAgent(call.channel_id, call.request.campaign_id))

    # ---- helpers ----

    def _wrap_up_ended(self, channel_id: str, now: float, out: list[CallCommand]) -> None:
        wrapping = self._wrapping.pop(channel_id, None)
        if wrapping is not None:
            campaign_id, connected_at, _ = wrapping
            out.append(Pace(campaign_id, PacedEnd(channel_id, now - connected_at)))

    def _message(self, call: DialerCall, message: Message, out: list[CallCommand]) -> None:
        call.stage = Stage.MESSAGE
        out.append(PlayMessage(call.channel_id, message))

    def _release(self, call: DialerCall, out: list[CallCommand]) -> None:
        if call.agent_id is not None:
            out.append(ReleaseAgent(call.agent_id, call.channel_id))
            call.agent_id = None

    def _settle(self, call: DialerCall, outcome: Outcome, out: list[CallCommand]) -> None:
        call.outcome = outcome
        out.append(Settled(call.channel_id, outcome))

    def _ring_ended(
        self, call: DialerCall, outcome: Outcome, now: float, out: list[CallCommand]
    ) -> None:
        ring = RingEnded(call.channel_id, outcome, now - call.placed_at)
        out.append(Pace(call.request.campaign_id, ring))

    def _finish(
        self, call: DialerCall, outcome: Outcome, now: float, out: list[CallCommand]
    ) -> None:
        del self._calls[call.channel_id]
        for ring in range(1, call.rings + 1):
            self._rings.pop(_ring_id(call.channel_id, ring), None)
        if call.ring_id is not None:
            self._rings.pop(call.ring_id, None)
        agent = call.agent_id if outcome is Outcome.ANSWERED else None
        if outcome is not Outcome.ANSWERED:
            self._release(call, out)
        if call.outcome is None:
            self._settle(call, outcome, out)
        out.append(Finished(call.request, outcome, now, agent, call.answered_at, call.connected_at))


def _outcome_of(reason: int) -> Outcome:
    return _REASON_OUTCOMES.get(reason, Outcome.FAILED)


def _ring_id(channel_id: str, ring: int) -> str:
    return f"{channel_id}-agent{ring}"
