"""Build realistic Asterisk 22 AMI event frames for tests and the ingest benchmark.

Frames are ``dict[str, str]`` with header names exactly as Asterisk writes them, in
Asterisk's order (``Event``, ``Privilege``, ``Timestamp``, then the channel snapshot, then
the event's own headers). ``encode`` turns frames into AMI wire bytes.

``Traffic`` keeps a fake clock (each frame advances it a little) and hands out uniqueids;
``Chan`` is a channel whose fields the helpers mutate as Asterisk would.
``local_originate_call`` scripts a whole call the way Asterisk 22 reports an
``Originate Channel=Local/dial-answer@ccd-sim`` whose ``;2`` half dials an agent Local
channel that answers, including the ``VarSet``/``Newexten`` noise (~240 frames, ~70%
``VarSet``) that ccd must skip.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
    10: "Unknown",
}

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


@dataclass
class Chan:
    name: str
    uniqueid: str
    linkedid: str
    state: int = 0
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    language: str = "en"
    accountcode: str = ""

    def headers(self, prefix: str = "") -> dict[str, str]:
        return {
            f"{prefix}Channel": self.name,
            f"{prefix}ChannelState": str(self.state),
            f"{prefix}ChannelStateDesc": STATE_DESC.get(self.state, "Unknown"),
            f"{prefix}CallerIDNum": self.caller_num,
            f"{prefix}CallerIDName": self.caller_name,
            f"{prefix}ConnectedLineNum": self.connected_num,
            f"{prefix}ConnectedLineName": self.connected_name,
            f"{prefix}Language": self.language,
            f"{prefix}AccountCode": self.accountcode,
            f"{prefix}Context": self.context,
            f"{prefix}Exten": self.exten,
            f"{prefix}Priority": str(self.priority),
            f"{prefix}Uniqueid": self.uniqueid,
            f"{prefix}Linkedid": self.linkedid,
        }


def encode(frames: Iterable[dict[str, str]]) -> bytes:
    """AMI wire format: ``Key: Value`` lines, CRLF, a blank line after each frame."""
    parts: list[str] = []
    for frame in frames:
        for key, value in frame.items():
            parts.append(f"{key}: {value}\r\n")
        parts.append("\r\n")
    return "".join(parts).encode()


class Traffic:
    """Frame factory with a fake Asterisk clock and uniqueid counter."""

    def __init__(
        self, *, start: float = 1_764_000_000.0, timestamps: bool = True, system_id: int = 0
    ) -> None:
        self.clock = start
        self.timestamps = timestamps
        self._next_uid = 0
        self._next_local = 0
        self._next_bridge = 0
        self._epoch = int(start)
        self._system_id = system_id

    # ---- identities ----------------------------------------------------------------

    def uniqueid(self) -> str:
        self._next_uid += 1
        return f"{self._epoch}.{self._next_uid}"

    def local_pair(self, target: str, linkedid: str | None = None) -> tuple[Chan, Chan]:
        """The ``;1``/``;2`` halves of ``Local/<target>``; both share ``linkedid``."""
        self._next_local += 1
        base = f"Local/{target}-{self._next_local:08x}"
        exten, _, context = target.partition("@")
        one_id = self.uniqueid()
        linked = linkedid or one_id
        one = Chan(f"{base};1", one_id, linked, context=context, exten=exten)
        two = Chan(f"{base};2", self.uniqueid(), linked, state=4, context=context, exten=exten)
        return one, two

    def bridge_id(self) -> str:
        self._next_bridge += 1
        return f"{self._system_id:08x}-0000-4000-8000-{self._next_bridge:012x}"

    # ---- frames --------------------------------------------------------------------

    def frame(self, event: str, chan: Chan | None = None, /, **headers: str) -> dict[str, str]:
        self.clock += 0.000137
        out = {"Event": event, "Privilege": "call,all"}
        if self.timestamps:
            out["Timestamp"] = f"{self.clock:.6f}"
        if chan is not None:
            out.update(chan.headers())
        out.update(headers)
        return out

    def newchannel(self, chan: Chan) -> dict[str, str]:
        return self.frame("Newchannel", chan)

    def newstate(self, chan: Chan, state: int) -> dict[str, str]:
        chan.state = state
        return self.frame("Newstate", chan)

    def newcallerid(self, chan: Chan, num: str, name: str) -> dict[str, str]:
        chan.caller_num, chan.caller_name = num, name
        return self.frame("NewCallerid", chan, **{"CID-CallingPres": "0 (Presentation Allowed)"})

    def newconnectedline(self, chan: Chan, num: str, name: str) -> dict[str, str]:
        chan.connected_num, chan.connected_name = num, name
        return self.frame("NewConnectedLine", chan)

    def newexten(self, chan: Chan, app: str, data: str = "") -> dict[str, str]:
        chan.priority += 1
        return self.frame("Newexten", chan, Extension=chan.exten, Application=app, AppData=data)

    def varset(self, chan: Chan, variable: str, value: str) -> dict[str, str]:
        return self.frame("VarSet", chan, Variable=variable, Value=value)

    def dial_begin(self, caller: Chan | None, dest: Chan, dial_string: str) -> dict[str, str]:
        out = self.frame("DialBegin", caller)
        out.update(dest.headers("Dest"))
        out["DialString"] = dial_string
        return out

    def dial_end(self, caller: Chan | None, dest: Chan, status: str) -> dict[str, str]:
        out = self.frame("DialEnd", caller)
        out.update(dest.headers("Dest"))
        out["DialStatus"] = status
        return out

    def dial_state(self, caller: Chan | None, dest: Chan) -> dict[str, str]:
        out = self.frame("DialState", caller)
        out.update(dest.headers("Dest"))
        out["DialStatus"] = "RINGING"
        return out

    def _bridge_headers(self, bridge: str, count: int) -> dict[str, str]:
        return {
            "BridgeUniqueid": bridge,
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeCreator": "<unknown>",
            "BridgeName": "<unknown>",
            "BridgeNumChannels": str(count),
            "BridgeVideoSourceMode": "none",
        }

    def bridge_create(self, bridge: str) -> dict[str, str]:
        return self.frame("BridgeCreate", **self._bridge_headers(bridge, 0))

    def bridge_destroy(self, bridge: str) -> dict[str, str]:
        return self.frame("BridgeDestroy", **self._bridge_headers(bridge, 0))

    def bridge_enter(self, chan: Chan, bridge: str, count: int) -> dict[str, str]:
        out = self.frame("BridgeEnter", **self._bridge_headers(bridge, count))
        out.update(chan.headers())
        return out

    def bridge_leave(self, chan: Chan, bridge: str, count: int) -> dict[str, str]:
        out = self.frame("BridgeLeave", **self._bridge_headers(bridge, count))
        out.update(chan.headers())
        return out

    def hangup_request(self, chan: Chan) -> dict[str, str]:
        return self.frame("HangupRequest", chan, Cause="16")

    def soft_hangup_request(self, chan: Chan) -> dict[str, str]:
        return self.frame("SoftHangupRequest", chan, Cause="16")

    def hangup(self, chan: Chan, cause: int = 16, text: str = "Normal Clearing") -> dict[str, str]:
        return self.frame("Hangup", chan, Cause=str(cause), **{"Cause-txt": text})

    def local_bridge(self, one: Chan, two: Chan) -> dict[str, str]:
        out = self.frame("LocalBridge")  # one ;1/;2 pair joined (no channel snapshot)
        out.update(one.headers("LocalOne"))
        out.update(two.headers("LocalTwo"))
        out.update(
            {"LocalExten": one.exten, "LocalContext": one.context, "LocalOptimization": "No"}
        )
        return out

    def core_show_channel(
        self, chan: Chan, *, bridge: str = "", duration: str = "00:00:05", action_id: str = "r1"
    ) -> dict[str, str]:
        out = self.frame("CoreShowChannel", ActionID=action_id)
        out.update(chan.headers())
        out.update(
            {
                "BridgeId": bridge,
                "Application": "Dial",
                "ApplicationData": "",
                "Duration": duration,
            }
        )
        return out

    def originate_response(
        self, action_id: str, chan: Chan | None, *, success: bool = True, reason: int = 4
    ) -> dict[str, str]:
        return self.frame(
            "OriginateResponse",
            ActionID=action_id,
            Response="Success" if success else "Failure",
            Channel=chan.name if chan else "Local/dial-answer@ccd-sim",
            Context="ccd-originate",
            Exten="1000",
            Application="",
            Data="",
            Reason=str(reason),
            Uniqueid=chan.uniqueid if chan else "<null>",
            CallerIDNum="5551000",
            CallerIDName="ccd",
        )

    def user_event(self, chan: Chan, name: str, **body: str) -> dict[str, str]:
        out = self.frame("UserEvent", chan)
        out["UserEvent"] = name
        out.update(body)
        return out

    # ---- noise ---------------------------------------------------------------------

    def noise(self, chan: Chan, count: int) -> list[dict[str, str]]:
        """``count`` VarSet frames of the kind Asterisk sets on every channel."""
        names = (
            "__CCD_CALL_ID",
            "DIALSTATUS",
            "RTPAUDIOQOS",
            "BRIDGEPEER",
            "BRIDGEPVTCALLID",
            "MACRO_DEPTH",
            "LOCAL_ORIGINATE",
            "__CCD_CAMPAIGN",
            "GOSUB_RETVAL",
            "CDR(ccd_leg)",
        )
        return [self.varset(chan, names[i % len(names)], f"v{i}") for i in range(count)]


@dataclass
class ScriptedCall:
    """A scripted call: its frames and what the model should conclude from them."""

    frames: list[dict[str, str]]
    linkedid: str
    caller_num: str
    callee_num: str
    channels: tuple[Chan, ...]
    answer_ts: float  # Timestamp of the first Newstate Up
    bridge: str


def local_originate_call(
    t: Traffic,
    *,
    caller_num: str = "5551000",
    agent: str = "agent",
    varsets_per_step: int = 17,
    noise: bool = True,
    action_id: str = "ccd-1",
) -> ScriptedCall:
    """``Originate Channel=Local/dial-answer@ccd-sim Application=Wait`` whose ``;2`` half
    runs ``Dial(Local/<agent>@ccd-sim)``; the agent's ``;2`` answers and plays music, the
    two inner halves are bridged, then the call is hung up from the originator's side.

    The order of the channel events follows a real Asterisk 22.10 recording of this
    dialplan (bench/fixtures/ami-calls.raw): the dialed ``;1`` gets the caller's exten as
    its CallerIDNum, the agent ``;2`` answers before the dial ends, the originator ``;1``
    answers last. ``noise`` adds the VarSet/Newexten traffic a production dialplan with
    ``channelvars`` produces (~240 frames per call, ~70% VarSet)."""
    frames: list[dict[str, str]] = []
    add = frames.append

    def vs(chan: Chan, count: int = varsets_per_step) -> None:
        if noise:
            frames.extend(t.noise(chan, count))

    def steps(chan: Chan, count: int = 10) -> None:
        """Dialplan priorities executed (Set, GotoIf, NoOp …): Newexten frames."""
        if noise:
            for i in range(count):
                frames.append(t.newexten(chan, ("Set", "GotoIf", "NoOp")[i % 3], f"step{i}"))

    a, b = t.local_pair("dial-answer@ccd-sim")
    add(t.newchannel(a))
    vs(a, 3)
    add(t.newchannel(b))
    vs(b, 3)
    if caller_num:
        add(t.newcallerid(a, caller_num, "ccd"))
        b.connected_num, b.connected_name = caller_num, "ccd"
    add(t.local_bridge(a, b))
    add(t.dial_begin(None, a, "dial-answer@ccd-sim"))
    vs(a)
    steps(b)
    add(t.newexten(b, "Dial", f"Local/{agent}@ccd-sim,30"))
    vs(b)
    c, d = t.local_pair(f"{agent}@ccd-sim", linkedid=a.linkedid)
    add(t.newchannel(c))
    vs(c, 4)
    add(t.newchannel(d))
    vs(d, 4)
    add(t.newcallerid(c, b.exten, ""))
    add(t.newconnectedline(d, b.exten, ""))
    add(t.local_bridge(c, d))
    steps(d)
    add(t.newexten(d, "Answer"))
    answer_frame = t.newstate(d, 6)  # the agent side answers first
    add(answer_frame)
    add(t.dial_begin(b, c, f"{agent}@ccd-sim"))
    vs(c)
    add(t.newstate(c, 6))
    add(t.dial_end(b, c, "ANSWER"))
    vs(b)
    add(t.newstate(b, 6))
    bridge = t.bridge_id()
    add(t.bridge_create(bridge))
    add(t.newstate(a, 6))
    add(t.dial_end(None, a, "ANSWER"))
    add(t.originate_response(action_id, a))
    c.exten = ""
    add(t.bridge_enter(c, bridge, 1))
    add(t.bridge_enter(b, bridge, 2))
    steps(a)
    add(t.newexten(a, "Wait", "3600"))
    vs(a)
    vs(b)
    vs(c)
    steps(d)
    add(t.newexten(d, "MusicOnHold"))
    add(t.frame("MusicOnHoldStart", d, Class="default"))
    vs(d)
    # ccd's Hangup action on the originator; Asterisk unwinds the rest.
    add(t.hangup(a, 0, "Unknown"))
    add(t.bridge_leave(b, bridge, 1))
    add(t.soft_hangup_request(b))
    vs(b, 6)
    add(t.hangup(b))
    add(t.bridge_leave(c, bridge, 0))
    add(t.bridge_destroy(bridge))
    add(t.hangup_request(d))
    vs(c, 6)
    add(t.hangup(c))
    add(t.frame("MusicOnHoldStop", d))
    add(t.soft_hangup_request(d))
    vs(d, 6)
    add(t.hangup(d))
    return ScriptedCall(
        frames=frames,
        linkedid=a.linkedid,
        caller_num=caller_num,
        callee_num=agent,
        channels=(a, b, c, d),
        answer_ts=float(answer_frame.get("Timestamp", "0") or 0),
        bridge=bridge,
    )


def synthetic_stream(
    calls: int, *, concurrency: int = 50, seed: int = 7, timestamps: bool = True
) -> Iterator[dict[str, str]]:
    """``calls`` scripted calls, up to ``concurrency`` in progress at once, their frames
    interleaved at random (each call's own frames stay in order)."""
    rng = random.Random(seed)
    t = Traffic(timestamps=timestamps)
    active: list[Iterator[dict[str, str]]] = []
    started = 0
    while started < calls or active:
        while started < calls and len(active) < concurrency:
            scripted = local_originate_call(
                t, caller_num=f"555{started % 10000:04d}", action_id=f"ccd-{started}"
            )
            active.append(iter(scripted.frames))
            started += 1
        index = rng.randrange(len(active))
        burst = rng.randint(1, 6)
        for _ in range(burst):
            frame = next(active[index], None)
            if frame is None:
                active[index] = active[-1]
                active.pop()
                break
            yield frame
