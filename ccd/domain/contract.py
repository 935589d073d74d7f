"""Names shared by ccd's Python code and the dialplan it ships in ``dialplan/``.

A context, channel variable or UserEvent renamed on one side only breaks calls
silently, so both sides take their names from here and
``tests/unit/test_dialplan_contract.py`` checks the dialplan files against this module.
"""

from __future__ import annotations

from typing import Final

# --- contexts ---------------------------------------------------------------

ORIGINATE_CONTEXT: Final = "ccd-originate"
"""Calls placed through ccd's API continue here once the originated channel answers
(``Originate Channel=<phone> Context=ccd-originate Exten=<number>``): shipped in
``dialplan/extensions_ccd.conf``, it emits ``CcdOriginate`` and dials
``Local/<number>@${CCD_TARGET_CONTEXT}``, bridging the two. Numbers only (``_[+0-9]!``)."""

IVR_CONTEXT: Final = "ccd-ivr"
"""Inbound calls enter ccd's IVR here (``Goto(ccd-ivr,<DID>,1)`` or ``Goto(ccd-ivr,s,1)``,
with ``CCD_IVR_FLOW`` naming the flow): it answers, runs ``AGI(agi://host:port/ivr,<flow>,<did>)``
and then continues where the IVR said (``CCD_IVR_ACTION`` and the ``CCD_IVR_NEXT_*``
variables), or at the default destination when ccd could not be reached."""

AGI_SCRIPT_IVR: Final = "ivr"
"""The FastAGI script name (``agi_network_script``) of the IVR. Parameters travel as AGI
arguments: ``agi_arg_1`` is the flow name, ``agi_arg_2`` the DID (may be empty)."""

QUEUE_CONTEXT: Final = "ccd-queue-wait"
"""Callers wait for an agent here (``Set(CCD_QUEUE=<id>)`` then ``Goto(ccd-queue-wait,s,1)``):
it answers and holds the caller inside ``AGI(agi://host:port/queue,...)`` (music,
announcements, the call-back key) until ccd bridges an agent to the channel or sets
``CCD_QUEUE_ACTION``. Without ccd it keeps the caller on hold and tries again every 5 s."""

QUEUE_AFTER_CONTEXT: Final = "ccd-queue-after"
"""Where a queue caller goes when the agent hangs up first (``Bridge(...,F(ccd-queue-after^s^1))``):
the shipped context sends the caller to ``ccd-survey`` (the queue's post-call survey, if
it has one), then hangs up."""

SURVEY_CONTEXT: Final = "ccd-survey"
"""The post-call survey: ``AGI(agi://host:port/survey,${CCD_QUEUE})`` runs the survey flow
of the caller's queue (none: the AGI ends at once), then hangs up. Only the caller's own
channel comes here, and only after the agent hung up: a call that was never answered or
that the caller ended never reaches it."""

AGI_SCRIPT_SURVEY: Final = "survey"
"""The FastAGI script of the post-call survey: ``agi_arg_1`` is the caller's queue id."""

QUEUE_CALLBACK_CONTEXT: Final = "ccd-queue-callback"
"""A called-back customer who answered continues here, then waits in ``ccd-queue-wait``
with their original place (``CCD_QUEUE_JOINED``) and ``CCD_ACD_CALLBACK`` set."""

CALLBACK_DIAL_CONTEXT: Final = "ccd-callback-dial"
"""ccd calls a customer back with ``Originate Channel=Local/<number>@ccd-callback-dial``: it
dials the number through ``CCD_TARGET_CONTEXT`` (the admin's outbound context)."""

AGI_SCRIPT_QUEUE: Final = "queue"
"""The FastAGI script of a waiting caller: ``agi_arg_1`` queue id, ``agi_arg_2`` priority,
``agi_arg_3`` extra skills (``name[:level]`` separated by ``&``), ``agi_arg_4`` the epoch time
the caller first joined, ``agi_arg_5`` the call's linkedid, ``agi_arg_6`` the call-back id."""

DIALER_CONTEXT: Final = "ccd-dialer"
"""The dialer's customer leg: ``Originate Channel=Local/<E.164>@ccd-dialer
Context=ccd-dialer-answered Exten=s ChannelId=<X>`` — the ``;2`` half presents
``CCD_DIALER_CALLERID`` and dials the number through ``CCD_TARGET_CONTEXT``. Verified on
Asterisk 22: the ``;1`` half's uniqueid is ``X``, the ``;2`` half's ``X;2`` (or the
Originate's ``OtherChannelId``), and every channel of the call, the far end's included,
has linkedid ``X``. The Originate's variables are on the ``;1`` half (the one
``ccd-dialer-answered`` runs on and ccd redirects); the ``;2`` half holds copies."""

DIALER_ANSWERED_CONTEXT: Final = "ccd-dialer-answered"
"""The answered customer leg (``;1``): AMD when ``CCD_DIALER_AMD=1``, then the UserEvent
``CcdDialerAnswered`` and silence until ccd connects an agent, redirects or hangs up."""

DIALER_CONNECT_CONTEXT: Final = "ccd-dialer-connect"
"""ccd connects an agent to an answered customer leg by setting ``CCD_DIALER_AGENT`` (the
agent's interface) and ``CCD_DIALER_AGENT_RING_S`` on it and redirecting it here: it
``Dial``s the agent, presenting the customer's number (``CCD_DIALER_NUMBER``). The
agent's leg is a plain Dial leg of the customer's call (its linkedid). Not answered: the
customer waits again (``Wait``) for ccd's next agent or message. Not an Originate of the
agent with ``Bridge()``: that yanks the waiting customer leg out of its application and,
measured on Asterisk 22, left a ``Surrogate/…`` channel behind for 2 to 8 % of connects,
deaf to hang-up requests for tens of seconds."""

DIALER_MESSAGE_CONTEXT: Final = "ccd-dialer-message"
"""ccd sends an answered customer leg (``;1``) here with a plain AMI Redirect to
``DIALER_SAFE_HARBOR_EXTEN`` or ``DIALER_MACHINE_EXTEN``: it emits ``CcdDialerMessage``,
plays the message and hangs up."""

DIALER_SAFE_HARBOR_EXTEN: Final = "safe-harbor"
"""No agent within 2 s of a person's answer: plays ``CCD_DIALER_SAFE_HARBOR``."""
DIALER_MACHINE_EXTEN: Final = "machine"
"""An answering machine: plays the campaign's ``CCD_DIALER_MACHINE_MESSAGE``."""

RECORDER_CHANNEL_PREFIX: Final = "ccd-recorder-"
"""The uniqueid (and so linkedid) of a call's recorder channel (ccd.recording): not a
customer's call, so it gives no CDR."""
SUPERVISOR_CHANNEL_PREFIX: Final = "ccd-mon-"
"""The uniqueid of a supervisor's monitoring call (ccd.monitor): no CDR either, the audit
trail is its record."""

MONITOR_CONTEXT: Final = "ccd-monitor"
"""A supervisor's live monitoring session: ccd rings the supervisor's device with
``Originate Context=ccd-monitor Exten=<mode>`` (``MonitorExten``), ``CCD_MONITOR_TARGET``
(the agent's channel name) and ``CCD_MONITOR_ID`` set; the extension runs ``ChanSpy`` on
the target with the mode's options and hangs up when the agent's channel is gone. A
Redirect of the supervisor's channel to another extension switches the mode."""

MONITOR_SIM_CONTEXT: Final = "ccd-monitor-sim"
"""The live-monitoring system test's parties (``Local/rec-<Hz>-<name>@ccd-monitor-sim``):
each plays a tone and records what it hears."""

RECORDING_CONTEXT: Final = "ccd-recording"
"""A call's recorder (``ccd.recording``): ccd originates ``Local/s@ccd-recording-hold`` with
``Context=ccd-recording Exten=s``, ``CCD_RECORDING_FILE`` (the wav, as Asterisk sees it) and
``CCD_RECORDING_TARGET`` (the customer's channel name) set. That channel runs MixMonitor
into the file and ChanSpy on the target (both parties, mixed); it ends with the target or
when ccd hangs it up. MixMonitor starts in the dialplan because the AMI action needs the
``system`` class, which ccd's AMI user never has; MixMonitorMute (PCI pause) is ``call``."""

RECORDING_HOLD_CONTEXT: Final = "ccd-recording-hold"
"""The other half of a recorder's Local channel: answers and waits, silent."""

SIM_CONTEXT: Final = "ccd-sim"
"""Simulated far ends for the sandbox and demos (``dialplan/extensions_ccd_sim.conf``)."""

BENCH_QUEUE_CONTEXT: Final = "ccd-bench-queue"
"""Enters Asterisk's app_queue (``ccd-baseline``): the baseline of ``bench/acd_vs_app_queue.py``."""

AGENT_SIM_CONTEXT: Final = "ccd-agents"
"""Simulated agent phones (``Local/<n>@ccd-agents``): 1xxx answer and talk for
``CCD_SIM_TALK_S`` seconds, 2xxx and 1002 never answer, 3xxx and 1003 are busy,
4xxx answer and stay an hour."""

# --- channel variables ------------------------------------------------------

VAR_REQUEST_ID: Final = "CCD_REQUEST_ID"
"""Set by ccd on every channel it originates; it comes back in every AMI event of that
channel (``ChanVariable: CCD_REQUEST_ID=...``, via manager.conf ``channelvars``), so ccd can
match a call to its request even after an AMI reconnect."""

VAR_TARGET_CONTEXT: Final = "CCD_TARGET_CONTEXT"
"""The admin's outbound context ``ccd-originate`` dials the number through; normally a
global in ``[globals]`` of extensions.conf, overridable per call. The sandbox sets it to
``ccd-sim``, where the first digit picks the far end's behaviour (1 answers, 2 rings,
3 busy, 4 congestion, 5 hangs up after 2 s)."""

VAR_AGI_HOST: Final = "CCD_AGI_HOST"
VAR_AGI_PORT: Final = "CCD_AGI_PORT"
"""Where ccd's FastAGI server listens, as seen from Asterisk: globals in ``[globals]``."""
VAR_AGI_ADDRESSES: Final = "CCD_AGI_ADDRESSES"
"""Several ccd instances (high availability): their FastAGI ``host:port`` addresses joined
with ``&`` (a comma would split the arguments), a global in ``[globals]``. Every AGI of the
shipped dialplan goes through ``ccd-agi``, which tries them in turn; unset, it uses
``CCD_AGI_HOST``:``CCD_AGI_PORT`` alone."""
AGI_ADDRESS_SEPARATOR: Final = "&"
VAR_IVR_TRIES: Final = "CCD_IVR_TRIES"
"""``ccd-ivr`` with ``CCD_AGI_ADDRESSES``: IVR runs that ended without an answer from ccd
(no ``CCD_IVR_ACTION``, the caller still there: no instance reachable, or the one running
the flow went away — a failover under way): the caller hears 3 s of music and the flow
is run again from the start, at most 3 times."""

AGI_CONTEXT: Final = "ccd-agi"
"""The subroutine every FastAGI call of the shipped dialplan goes through:
``Gosub(ccd-agi,s,1(<script>,<arg>,...))`` (at most 6 arguments) connects to the first
address of ``CCD_AGI_ADDRESSES`` that answers (``AGISTATUS`` not ``FAILURE``: a stopped
ccd and a standby, which does not listen, both fail at connect) and leaves ``AGISTATUS``
as the last try set it."""
AGI_MAX_ARGUMENTS: Final = 6

VAR_IVR_FLOW: Final = "CCD_IVR_FLOW"
"""The flow an inbound call runs; set by the admin's inbound route before ``ccd-ivr``."""
VAR_IVR_DID: Final = "CCD_IVR_DID"
"""The number dialled, kept by ``ccd-ivr`` from its extension (empty for ``s``)."""

VAR_IVR_ACTION: Final = "CCD_IVR_ACTION"
"""Set by ccd's IVR before it ends the AGI: ``transfer``, ``queue``, ``voicemail`` or
``hangup``. Empty (ccd unreachable, or the IVR ended otherwise) → the default destination."""
VAR_IVR_NEXT_CONTEXT: Final = "CCD_IVR_NEXT_CONTEXT"
VAR_IVR_NEXT_EXTEN: Final = "CCD_IVR_NEXT_EXTEN"
"""Where the dialplan continues after a transfer or queue (``Goto(context,exten,1)``);
a target that does not exist goes to the default destination instead."""
VAR_IVR_VOICEMAIL_BOX: Final = "CCD_IVR_VOICEMAIL_BOX"
"""The mailbox for ``CCD_IVR_ACTION=voicemail`` (``1000`` or ``1000@default``)."""
VAR_IVR_DEFAULT_CONTEXT: Final = "CCD_IVR_DEFAULT_CONTEXT"
VAR_IVR_DEFAULT_EXTEN: Final = "CCD_IVR_DEFAULT_EXTEN"
"""The default destination (``[globals]``, e.g. the operator) for calls the IVR could not
route; if unset or missing, the caller hears ``ss-noservice`` — never silence."""


VAR_QUEUE: Final = "CCD_QUEUE"
VAR_PRIORITY: Final = "CCD_PRIORITY"
VAR_SKILLS: Final = "CCD_SKILLS"
"""Which ccd queue a caller waits in, with what priority (higher first) and extra skills."""
SKILLS_SEPARATOR: Final = "&"
"""Between skills in ``CCD_SKILLS`` (``french:3&billing``): never a comma, which would split
the AGI arguments the dialplan passes it in."""
VAR_QUEUE_JOINED: Final = "CCD_QUEUE_JOINED"
"""Epoch seconds (to the millisecond) the caller first joined: kept across ccd restarts
and call backs."""
VAR_QUEUE_TRIES: Final = "CCD_QUEUE_TRIES"
VAR_QUEUE_ACTION: Final = "CCD_QUEUE_ACTION"
"""Set by ccd before a waiting caller's AGI ends: ``transfer``, ``voicemail``, ``callback``,
``hangup`` or ``fallback``. Empty: ccd went away; the dialplan tries again."""
VAR_QUEUE_NEXT_CONTEXT: Final = "CCD_QUEUE_NEXT_CONTEXT"
VAR_QUEUE_NEXT_EXTEN: Final = "CCD_QUEUE_NEXT_EXTEN"
VAR_QUEUE_VOICEMAIL_BOX: Final = "CCD_QUEUE_VOICEMAIL_BOX"
VAR_ACD_CALLBACK: Final = "CCD_ACD_CALLBACK"
"""On a call-back: the ACD call id of the original call, so the caller keeps their place."""
VAR_ACD_CALL: Final = "CCD_ACD_CALL"
VAR_ACD_AGENT: Final = "CCD_ACD_AGENT"
"""Set by ccd on the agent channel it originates (which waiting call, which agent), for
the admin's logs and the agent's screen pop; the shipped dialplan does not read them."""
VAR_SIM_TALK_S: Final = "CCD_SIM_TALK_S"
VAR_MONITOR_TARGET: Final = "CCD_MONITOR_TARGET"
"""The channel a ``ccd-monitor`` session spies on (a ChanSpy prefix: the full name)."""
VAR_MONITOR_ID: Final = "CCD_MONITOR_ID"
VAR_RECORDING_FILE: Final = "CCD_RECORDING_FILE"
"""The recorder's wav file, as Asterisk sees it (``[recording] asterisk_dir``)."""
VAR_RECORDING_TARGET: Final = "CCD_RECORDING_TARGET"
"""The channel a recorder spies on: the customer's (a ChanSpy prefix: the full name)."""
"""The monitor session's id, for the admin's logs."""

VAR_DIALER_ATTEMPT: Final = "CCD_DIALER_ATTEMPT"
"""The dial attempt's id, set by ccd on the customer leg (it comes back in the UserEvent)."""
VAR_DIALER_CALLERID: Final = "CCD_DIALER_CALLERID"
"""The number the called party sees: the campaign's caller id."""
VAR_DIALER_AMD: Final = "CCD_DIALER_AMD"
"""``1``: answering-machine detection on this call (Asterisk's ``AMD()``)."""
VAR_DIALER_AMD_STATUS: Final = "CCD_DIALER_AMD_STATUS"
VAR_DIALER_NUMBER: Final = "CCD_DIALER_NUMBER"
"""The customer's number, shown to the agent ``ccd-dialer-connect`` dials."""
VAR_DIALER_AGENT: Final = "CCD_DIALER_AGENT"
VAR_DIALER_AGENT_RING_S: Final = "CCD_DIALER_AGENT_RING_S"
"""The agent's interface ``ccd-dialer-connect`` dials, and how long it rings (seconds)."""
VAR_DIALER_SAFE_HARBOR: Final = "CCD_DIALER_SAFE_HARBOR"
VAR_DIALER_MACHINE_MESSAGE: Final = "CCD_DIALER_MACHINE_MESSAGE"
"""What ``ccd-dialer-message`` plays at ``safe-harbor`` and at ``machine`` (sound file
names, as Playback takes them). Set by ccd at Originate time, so a Redirect needs no
Setvar first: the message starts at once."""


DIAL_ANSWERED: Final = "ANSWER"
"""``DialEnd``'s ``DialStatus`` (Asterisk's ``DIALSTATUS``) when the dialed party answered."""


class MonitorExten:
    """Extensions of ``ccd-monitor``: one per monitoring mode."""

    LISTEN: Final = "listen"
    WHISPER: Final = "whisper"
    BARGE: Final = "barge"


class QueueAction:
    """Values of ``CCD_QUEUE_ACTION``."""

    TRANSFER: Final = "transfer"
    VOICEMAIL: Final = "voicemail"
    CALLBACK: Final = "callback"
    HANGUP: Final = "hangup"
    FALLBACK: Final = "fallback"


class IvrAction:
    """Values of ``CCD_IVR_ACTION``."""

    TRANSFER: Final = "transfer"
    QUEUE: Final = "queue"
    VOICEMAIL: Final = "voicemail"
    HANGUP: Final = "hangup"


# --- user events ------------------------------------------------------------

USER_EVENT_ORIGINATE: Final = "CcdOriginate"
"""Emitted by ``ccd-originate`` with headers ``RequestId`` and ``Destination``."""

USER_EVENT_ORIGINATE_HEADERS: Final = ("RequestId", "Destination")

USER_EVENT_DIALER_ANSWERED: Final = "CcdDialerAnswered"
"""Emitted by ``ccd-dialer-answered`` once the customer answered (and AMD decided)."""

USER_EVENT_DIALER_ANSWERED_HEADERS: Final = ("Attempt", "Amd", "AmdCause")

USER_EVENT_DIALER_MESSAGE: Final = "CcdDialerMessage"
"""Emitted by ``ccd-dialer-message`` just before the message plays: its timestamp is when
the customer started hearing it (compliance evidence). ``Kind`` is the extension
(``DIALER_SAFE_HARBOR_EXTEN`` or ``DIALER_MACHINE_EXTEN``)."""

USER_EVENT_DIALER_MESSAGE_HEADERS: Final = ("Attempt", "Kind")


class AmdStatus:
    """Values of the ``Amd`` header: Asterisk's ``AMDSTATUS``, or ``OFF`` without AMD."""

    HUMAN: Final = "HUMAN"
    MACHINE: Final = "MACHINE"
    NOTSURE: Final = "NOTSURE"
    HANGUP: Final = "HANGUP"
    OFF: Final = "OFF"


class SimExten:
    """Extensions of ``ccd-sim``: ``Local/<exten>@ccd-sim`` is a far end that behaves so."""

    ANSWER: Final = "answer"
    """Answers and plays music on hold for up to an hour."""
    RING: Final = "ring"
    """Rings forever, never answers."""
    BUSY: Final = "busy"
    CONGESTION: Final = "congestion"
    DIAL_ANSWER: Final = "dial-answer"
    """Dials ``answer``: two parties that bridge (four Local channels, one bridge)."""
    HANGUP_AFTER_2: Final = "hangup-after-2"
    """Answers and hangs up after two seconds."""
    HUMAN: Final = "human"
    """Answers like a person: "Hello?", then listens (for AMD)."""
    MACHINE: Final = "machine"
    """Answers like an answering machine: a 13 s greeting (for AMD)."""


def sim_channel(exten: str) -> str:
    """The ``Channel`` for an Originate that reaches the simulated far end ``exten``."""
    return f"Local/{exten}@{SIM_CONTEXT}"


# What the dialplan must define (the contract test walks these).
SHIPPED_CONTEXTS: Final = frozenset(
    {
        ORIGINATE_CONTEXT,
        IVR_CONTEXT,
        QUEUE_CONTEXT,
        QUEUE_AFTER_CONTEXT,
        SURVEY_CONTEXT,
        QUEUE_CALLBACK_CONTEXT,
        CALLBACK_DIAL_CONTEXT,
        DIALER_CONTEXT,
        DIALER_ANSWERED_CONTEXT,
        DIALER_MESSAGE_CONTEXT,
        DIALER_CONNECT_CONTEXT,
        MONITOR_CONTEXT,
        RECORDING_CONTEXT,
        RECORDING_HOLD_CONTEXT,
        AGI_CONTEXT,
    }
)
SIM_CONTEXTS: Final = frozenset(
    {SIM_CONTEXT, AGENT_SIM_CONTEXT, BENCH_QUEUE_CONTEXT, MONITOR_SIM_CONTEXT}
)
CHANNEL_VARIABLES: Final = frozenset(
    {
        VAR_REQUEST_ID,
        VAR_TARGET_CONTEXT,
        VAR_AGI_HOST,
        VAR_AGI_PORT,
        VAR_AGI_ADDRESSES,
        VAR_IVR_TRIES,
        VAR_IVR_FLOW,
        VAR_IVR_DID,
        VAR_IVR_ACTION,
        VAR_IVR_NEXT_CONTEXT,
        VAR_IVR_NEXT_EXTEN,
        VAR_IVR_VOICEMAIL_BOX,
        VAR_IVR_DEFAULT_CONTEXT,
        VAR_IVR_DEFAULT_EXTEN,
        VAR_QUEUE,
        VAR_PRIORITY,
        VAR_SKILLS,
        VAR_QUEUE_JOINED,
        VAR_QUEUE_TRIES,
        VAR_QUEUE_ACTION,
        VAR_QUEUE_NEXT_CONTEXT,
        VAR_QUEUE_NEXT_EXTEN,
        VAR_QUEUE_VOICEMAIL_BOX,
        VAR_ACD_CALLBACK,
        VAR_SIM_TALK_S,
        VAR_DIALER_ATTEMPT,
        VAR_DIALER_CALLERID,
        VAR_DIALER_AMD,
        VAR_DIALER_AMD_STATUS,
        VAR_DIALER_NUMBER,
        VAR_DIALER_AGENT,
        VAR_DIALER_AGENT_RING_S,
        VAR_DIALER_SAFE_HARBOR,
        VAR_DIALER_MACHINE_MESSAGE,
        VAR_MONITOR_TARGET,
        VAR_MONITOR_ID,
        VAR_RECORDING_FILE,
        VAR_RECORDING_TARGET,
    }
)
USER_EVENTS: Final = frozenset(
    {USER_EVENT_ORIGINATE, USER_EVENT_DIALER_ANSWERED, USER_EVENT_DIALER_MESSAGE}
)
DIALER_MESSAGE_EXTENS: Final = frozenset({DIALER_SAFE_HARBOR_EXTEN, DIALER_MACHINE_EXTEN})
MONITOR_NO_TARGET_EXTEN: Final = "none"
"""Where a ``ccd-monitor`` extension goes without ``CCD_MONITOR_TARGET``: logs and hangs up."""
MONITOR_EXTENS: Final = frozenset(
    {MonitorExten.LISTEN, MonitorExten.WHISPER, MonitorExten.BARGE, MONITOR_NO_TARGET_EXTEN}
)
SIM_EXTENS: Final = frozenset(
    {
        SimExten.ANSWER,
        SimExten.RING,
        SimExten.BUSY,
        SimExten.CONGESTION,
        SimExten.DIAL_ANSWER,
        SimExten.HANGUP_AFTER_2,
        SimExten.HUMAN,
        SimExten.MACHINE,
    }
)
