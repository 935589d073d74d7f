"""The dialer's shipped dialplan on the real Asterisk: the customer leg presents the
campaign's caller id, reports the answer with Asterisk's answering-machine detection on
real speech (espeak-ng voices made by scripts/asterisk-sandbox), reports busy / no answer /
congestion as Originate failures, and plays the safe-harbor or the machine message when ccd
redirects the answered call (a plain Redirect: the messages were set at Originate time).

Driven over AMI directly: this is the contract ccd's dialer service will build on."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from ccd.ami.actions import RedirectAction
from ccd.domain import contract
from tests.system.conftest import AsteriskSandbox
from tests.system.ivrrig import recording_ami
from tests.system.rawami import Frame, RawAmi

CAMPAIGN_CALLER_ID = "+15550100"
# ccd-sim numbers by first digit: 2 rings forever, 3 busy, 4 congestion, 6 a person, 7 a machine.
PERSON, MACHINE, BUSY, RINGS, CONGESTION = "6001", "7001", "3001", "2001", "4001"
# Stand-ins for the campaign's recordings.
SAFE_HARBOR_PROMPT, MACHINE_PROMPT = "ccd-sim/hello", "vm-goodbye"
# Asterisk's OriginateResponse reasons (AST_CONTROL_*).
REASON_NO_ANSWER, REASON_BUSY, REASON_CONGESTION = 3, 5, 8

_attempts = itertools.count(1)


@pytest.fixture
async def ami(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    # The recorder user reads every event class (Newexten and Newchannel of the far end too).
    async with recording_ami(asterisk_sandbox) as client:
        yield client


async def dial(ami: RawAmi, number: str, *, amd: bool, timeout_s: int = 20) -> tuple[str, Frame]:
    """Originate the customer leg the way the dialer does; returns the attempt id and the
    OriginateResponse."""
    attempt = f"sys-{next(_attempts)}"
    variables = ",".join(
        (
            f"{contract.VAR_DIALER_ATTEMPT}={attempt}",
            f"{contract.VAR_DIALER_CALLERID}={CAMPAIGN_CALLER_ID}",
            f"{contract.VAR_DIALER_AMD}={int(amd)}",
            f"{contract.VAR_DIALER_SAFE_HARBOR}={SAFE_HARBOR_PROMPT}",
            f"{contract.VAR_DIALER_MACHINE_MESSAGE}={MACHINE_PROMPT}",
        )
    )
    action_id = await ami.send(
        "Originate",
        Channel=f"Local/{number}@{contract.DIALER_CONTEXT}",
        Context=contract.DIALER_ANSWERED_CONTEXT,
        Exten="s",
        Priority="1",
        Timeout=str(timeout_s * 1000),
        ChannelId=f"ccd-dial-{attempt}",
        Variable=variables,
        Async="true",
    )
    response = await ami.wait_for(
        lambda f: f.get("Event") == "OriginateResponse" and f.get("ActionID") == action_id,
        timeout_s + 10,
    )
    if response["Response"] == "Success":
        ami.originated.append(response["Channel"])
    return attempt, response


async def answered(ami: RawAmi, attempt: str) -> Frame:
    """The attempt's CcdDialerAnswered (without AMD it can come before the OriginateResponse)."""

    def report(frame: Frame) -> bool:
        return (
            frame.get("Event") == "UserEvent"
            and frame.get("UserEvent") == contract.USER_EVENT_DIALER_ANSWERED
            and frame.get("Attempt") == attempt
        )

    seen = [frame for frame in ami.received if report(frame)]
    return seen[0] if seen else await ami.wait_for(report, 15)


async def test_a_person_and_a_machine_are_told_apart_by_amd(ami: RawAmi) -> None:
    attempt, response = await dial(ami, PERSON, amd=True)
    assert response["Response"] == "Success", response
    person = await answered(ami, attempt)
    assert person["Amd"] == contract.AmdStatus.HUMAN, person

    attempt, response = await dial(ami, MACHINE, amd=True)
    assert response["Response"] == "Success", response
    machine = await answered(ami, attempt)
    assert machine["Amd"] == contract.AmdStatus.MACHINE, machine


async def test_without_amd_the_answer_is_reported_at_once_with_the_campaign_caller_id(
    ami: RawAmi,
) -> None:
    attempt, response = await dial(ami, PERSON, amd=False)
    assert response["Response"] == "Success", response
    report = await answered(ami, attempt)
    assert report["Amd"] == contract.AmdStatus.OFF
    # The far end (ccd-sim, standing in for the admin's trunk) saw the campaign's number.
    far_end = [
        f
        for f in ami.received
        if f.get("Event") == "Newexten"
        and f.get("Context") == contract.SIM_CONTEXT
        and f.get("Channel", "").endswith(";2")  # the half that plays the called party
        and f.get("Linkedid") == response["Uniqueid"]
    ]
    assert far_end, "the call never reached the simulated far end"
    # What a trunk would send as the caller: the far end's caller id when it got the call.
    assert far_end[0].get("CallerIDNum") == CAMPAIGN_CALLER_ID, far_end[0]


@pytest.mark.parametrize(
    ("number", "reason", "timeout_s"),
    [(BUSY, REASON_BUSY, 20), (RINGS, REASON_NO_ANSWER, 3), (CONGESTION, REASON_CONGESTION, 20)],
)
async def test_unanswered_outcomes_come_back_as_originate_failures(
    ami: RawAmi, number: str, reason: int, timeout_s: int
) -> None:
    _attempt, response = await dial(ami, number, amd=True, timeout_s=timeout_s)
    assert response["Response"] == "Failure", response
    assert int(response["Reason"]) == reason, response


async def test_the_customer_call_is_keyed_by_the_originate_channel_id(ami: RawAmi) -> None:
    """What the dialer and the CDR rely on: the ;1 half is the ChannelId and holds the
    Originate's variables; every channel of the call has the ChannelId as linkedid."""
    attempt, response = await dial(ami, PERSON, amd=False)
    assert response["Response"] == "Success", response
    await answered(ami, attempt)
    channel_id = f"ccd-dial-{attempt}"
    assert response["Uniqueid"] == channel_id
    created = {
        f["Uniqueid"]: f
        for f in ami.received
        if f.get("Event") == "Newchannel" and f.get("Linkedid") == channel_id
    }
    assert created[channel_id]["Channel"] == response["Channel"]
    assert created[channel_id]["Channel"].endswith(";1")
    assert created[f"{channel_id};2"]["Channel"].endswith(";2")
    assert len(created) == 4, created  # the far end's Local pair too
    reply = await ami.action(
        "Getvar", Channel=response["Channel"], Variable=contract.VAR_DIALER_SAFE_HARBOR
    )
    assert reply.get("Value") == SAFE_HARBOR_PROMPT, reply


@pytest.mark.parametrize(
    ("number", "amd", "kind", "prompt"),
    [
        (PERSON, False, contract.DIALER_SAFE_HARBOR_EXTEN, SAFE_HARBOR_PROMPT),
        (MACHINE, True, contract.DIALER_MACHINE_EXTEN, MACHINE_PROMPT),
    ],
)
async def test_a_redirected_call_reports_and_hears_its_message_then_hangs_up(
    ami: RawAmi, number: str, amd: bool, kind: str, prompt: str
) -> None:
    attempt, response = await dial(ami, number, amd=amd)
    assert response["Response"] == "Success", response
    await answered(ami, attempt)
    channel = response["Channel"]  # the ;1 half: it holds the Originate's variables
    # The fields ccd's gateway sends (RedirectAction), straight to the real Asterisk.
    fields = RedirectAction(channel, contract.DIALER_MESSAGE_CONTEXT, kind).headers()
    reply = await ami.action(fields.pop("Action"), **fields)
    assert reply["Response"] == "Success", reply
    reported = await ami.wait_for(
        lambda f: (
            f.get("Event") == "UserEvent"
            and f.get("UserEvent") == contract.USER_EVENT_DIALER_MESSAGE
            and f.get("Channel") == channel
        ),
        10,
    )
    assert (reported["Attempt"], reported["Kind"]) == (attempt, kind), reported
    # The customer's leg: its linkedid is the Originate's ChannelId, as the dialer keys it.
    assert reported["Linkedid"] == reported["Uniqueid"] == f"ccd-dial-{attempt}", reported
    played = await ami.wait_for(
        lambda f: (
            f.get("Event") == "Newexten"
            and f.get("Channel") == channel
            and f.get("Application") == "Playback"
        ),
        10,
    )
    assert played["AppData"] == prompt
    # Reported before it plays: the event's time is when the customer starts hearing it.
    assert float(reported["Timestamp"]) <= float(played["Timestamp"])
    await ami.wait_for(lambda f: f.get("Event") == "Hangup" and f.get("Channel") == channel, 20)
