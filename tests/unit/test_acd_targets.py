import pytest

from ccd.acd.targets import (
    CallbackTarget,
    HangupTarget,
    QueueTarget,
    TransferTarget,
    VoicemailTarget,
    parse_target,
    queue_of,
)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("queue:support-2", QueueTarget("support-2")),
        ("voicemail:1001", VoicemailTarget("1001")),
        ("voicemail:1001@sales", VoicemailTarget("1001@sales")),
        ("transfer:ccd-after-hours,s", TransferTarget("ccd-after-hours", "s")),
        ("transfer:from-internal,_X.", TransferTarget("from-internal", "_X.")),
        ("callback", CallbackTarget()),
        ("hangup", HangupTarget()),
    ],
)
def test_valid_targets_parse_and_print_back(text: str, parsed: object) -> None:
    assert parse_target(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("queue:", "bad queue id"),
        ("queue:a b", "bad queue id"),
        ("voicemail:1001\r\nAction: Originate", "bad mailbox"),
        ("transfer:ctx", "expected <context>,<exten>"),
        ("transfer:ctx,", "bad extension"),
        ("transfer:c tx,100", "bad context"),
        ("transfer:ctx,1,2", "bad extension"),
        ("callback:now", "takes no value"),
        ("hangup:x", "takes no value"),
        ("voicemail", "unknown target"),
        ("fax:1", "unknown target kind 'fax'"),
    ],
)
def test_invalid_targets_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(text)


def test_queue_of_only_recognises_valid_queue_targets() -> None:
    assert queue_of("queue:backup") == "backup"
    assert queue_of("queue:bad id") is None
    assert queue_of("voicemail:1") is None
    assert queue_of(None) is None
