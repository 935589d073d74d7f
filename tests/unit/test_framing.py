"""FrameDecoder: complete frames out, malformed frames counted and skipped, memory bounded."""

from __future__ import annotations

import random
from collections import Counter

from ccd.ami.framing import MIB, FrameDecoder, message_to_frame, to_message

GREETING = b"Asterisk Call Manager/11.0.0\r\n"


def event(name: str, **fields: str) -> bytes:
    lines = [f"Event: {name}"] + [f"{key}: {value}" for key, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def decoder_after_greeting(**kwargs: int) -> FrameDecoder:
    decoder = FrameDecoder(**kwargs)
    assert decoder.feed(GREETING) == []
    return decoder


def test_greeting_is_recognised_and_not_a_frame() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(GREETING + event("FullyBooted", Status="Fully Booted"))
    assert decoder.greeting == "Asterisk Call Manager/11.0.0"
    assert frames == [{"Event": "FullyBooted", "Status": "Fully Booted"}]


def test_stream_without_greeting_still_decodes() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(event("Hangup", Uniqueid="1.1")) == [{"Event": "Hangup", "Uniqueid": "1.1"}]
    assert decoder.greeting is None


def test_header_case_and_values_are_kept_as_sent() -> None:
    decoder = decoder_after_greeting()
    raw = b"Event: Newstate\r\nCallerIDName: A: B\r\nAccountCode: \r\nchannel: x\r\n\r\n"
    assert decoder.feed(raw) == [
        {"Event": "Newstate", "CallerIDName": "A: B", "AccountCode": "", "channel": "x"}
    ]


def test_several_frames_in_one_chunk_keep_their_order() -> None:
    decoder = decoder_after_greeting()
    data = b"".join(event("UserEvent", Seq=str(n)) for n in range(50))
    frames = decoder.feed(data)
    assert [frame["Seq"] for frame in frames] == [str(n) for n in range(50)]


def test_bare_lf_and_crlf_frames_both_decode() -> None:
    decoder = decoder_after_greeting()
    data = b"Event: A\nX: 1\n\n" + b"Event: B\r\nX: 2\r\n\r\n" + b"Event: C\r\nX: 3\n\n"
    assert [f["Event"] for f in decoder.feed(data)] == ["A", "B", "C"]
    assert decoder.malformed == 0


def test_byte_by_byte_feed_gives_the_same_frames() -> None:
    data = (
        GREETING + event("Newchannel", Channel="Local/s@ctx-0001;1") + event("Hangup", Cause="16")
    )
    decoder = FrameDecoder()
    frames = []
    for index in range(len(data)):
        frames.extend(decoder.feed(data[index : index + 1]))
    assert frames == [
        {"Event": "Newchannel", "Channel": "Local/s@ctx-0001;1"},
        {"Event": "Hangup", "Cause": "16"},
    ]
    assert decoder.greeting == "Asterisk Call Manager/11.0.0"
    assert decoder.buffered_bytes == 0


def test_terminator_split_between_cr_and_lf() -> None:
    decoder = decoder_after_greeting()
    assert decoder.feed(b"Event: A\r\nX: 1\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\nEvent: B\r\n\r\n") == [{"Event": "A", "X": "1"}, {"Event": "B"}]


def test_duplicate_event_header_is_counted_and_skipped() -> None:
    decoder = decoder_after_greeting()
    data = event("A") + b"Event: Hangup\r\nEvent: Newstate\r\n\r\n" + event("B")
    assert [f["Event"] for f in decoder.feed(data)] == ["A", "B"]
    assert decoder.malformed == 1
    assert decoder.malformed_by_reason["duplicate_header"] == 1


def test_duplicate_response_or_actionid_is_malformed() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Response: Success\r\nResponse: Error\r\n\r\n"
        b"Response: Success\r\nActionID: 1\r\nActionID: 2\r\n\r\n"
    )
    assert decoder.feed(data) == []
    assert decoder.malformed_by_reason["duplicate_header"] == 2


def test_other_repeated_header_keeps_the_first_and_is_counted() -> None:
    decoder = decoder_after_greeting()
    frames = decoder.feed(b"Event: VarSet\r\nValue: first\r\nValue: second\r\n\r\n")
    assert frames == [{"Event": "VarSet", "Value": "first"}]
    assert decoder.repeated_headers == 1
    assert decoder.malformed == 0


def test_line_without_colon_is_malformed() -> None:
    decoder = decoder_after_greeting()
    data = event("A") + b"Event: Broken\r\nthis line has no colon\r\n\r\n" + event("B")
    assert [f["Event"] for f in decoder.feed(data)] == ["A", "B"]
    assert decoder.malformed_by_reason["no_colon"] == 1


def test_frame_without_event_or_response_is_malformed() -> None:
    decoder = decoder_after_greeting()
    assert decoder.feed(b"Channel: x\r\nState: 6\r\n\r\n" + event("B")) == [{"Event": "B"}]
    assert decoder.malformed_by_reason["no_type"] == 1


def test_follows_body_lines_become_output() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Channel              Location\n2 active channels\n--END COMMAND--\r\n\r\n"
    )
    frames = decoder.feed(data)
    assert frames == [
        {
            "Response": "Follows",
            "Privilege": "Command",
            "ActionID": "7",
            "Output": "Channel              Location\n2 active channels\n--END COMMAND--",
        }
    ]
    assert decoder.malformed == 0


def test_repeated_output_headers_are_joined() -> None:
    decoder = decoder_after_greeting()
    data = b"Response: Success\r\nActionID: 7\r\nOutput: line one\r\nOutput: line two\r\n\r\n"
    assert decoder.feed(data)[0]["Output"] == "line one\nline two"


def test_bad_utf8_frame_is_skipped_and_neighbours_survive() -> None:
    decoder = decoder_after_greeting()
    data = event("A") + b"Event: Bad\r\nCallerIDName: \xff\xfe\r\n\r\n" + event("B")
    assert [f["Event"] for f in decoder.feed(data)] == ["A", "B"]
    assert decoder.malformed_by_reason["bad_utf8"] == 1


def test_valid_utf8_values_are_decoded() -> None:
    decoder = decoder_after_greeting()
    frames = decoder.feed("Event: A\r\nCallerIDName: Zoë Ünal\r\n\r\n".encode())
    assert frames == [{"Event": "A", "CallerIDName": "Zoë Ünal"}]


def test_chanvariable_lines_are_kept_by_name() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: Newstate\r\nChannel: Local/1@a-0001;1\r\n"
        b"ChanVariable: CCD_CALL=abc\r\nChanVariable: CCD_EMPTY=\r\n"
        b"DestChanVariable: CCD_CALL=def=ghi\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {
            "Event": "Newstate",
            "Channel": "Local/1@a-0001;1",
            "ChanVariable(CCD_CALL)": "abc",
            "ChanVariable(CCD_EMPTY)": "",
            "DestChanVariable(CCD_CALL)": "def=ghi",
        }
    ]
    assert decoder.malformed == 0


def test_two_hundred_headers_over_the_limit_are_skipped() -> None:
    decoder = decoder_after_greeting(max_headers=128)
    big = b"Event: Big\r\n" + b"".join(b"H%d: v\r\n" % n for n in range(200)) + b"\r\n"
    assert decoder.feed(big + event("After")) == [{"Event": "After"}]
    assert decoder.malformed_by_reason["too_many_headers"] == 1


def test_two_hundred_headers_exceed_the_default_limit_and_the_stream_goes_on() -> None:
    decoder = decoder_after_greeting()
    big = b"Event: Big\r\n" + b"".join(b"H%d: v\r\n" % n for n in range(200)) + b"\r\n"
    frames = decoder.feed(big + b"Event: Next\r\n\r\n")
    assert frames == [{"Event": "Next"}]
    assert decoder.malformed_by_reason["too_many_headers"] == 1


def test_eight_mib_unterminated_frame_keeps_memory_bounded() -> None:
    limit = MIB
    decoder = decoder_after_greeting(max_frame_bytes=limit)
    chunk = b"X-Filler: " + b"a" * (64 * 1024 - 12) + b"\r\n"
    assert decoder.feed(b"Event: Huge\r\n") == []
    largest = 0
    for _ in range(8 * MIB // len(chunk) + 1):
        assert decoder.feed(chunk) == []
        largest = max(largest, decoder.buffered_bytes)
    assert largest <= limit
    assert decoder.malformed_by_reason["oversize"] == 1
    # The next boundary ends the discarded frame; the stream carries on.
    assert decoder.feed(b"\r\n" + event("After")) == [{"Event": "After"}]
    assert decoder.malformed == 1
    assert decoder.buffered_bytes == 0


def test_oversize_frame_boundary_split_across_feeds() -> None:
    decoder = decoder_after_greeting(max_frame_bytes=1024)
    assert decoder.feed(b"Event: Huge\r\nX: " + b"b" * 2048 + b"\r\n\r") == []
    assert decoder.malformed_by_reason["oversize"] == 1
    assert decoder.feed(b"\n" + event("After")) == [{"Event": "After"}]


def test_oversize_terminated_frame_in_one_chunk_is_skipped() -> None:
    decoder = decoder_after_greeting(max_frame_bytes=1024)
    data = b"Event: Huge\r\nX: " + b"c" * 4096 + b"\r\n\r\n" + event("After")
    assert decoder.feed(data) == [{"Event": "After"}]
    assert decoder.malformed_by_reason["oversize"] == 1


def test_blank_lines_between_frames_are_not_frames() -> None:
    decoder = decoder_after_greeting()
    data = event("A") + b"\r\n\r\n" + b"\r\n" + event("B")
    assert [f["Event"] for f in decoder.feed(data)] == ["A", "B"]
    assert decoder.malformed == 0


def test_to_message_supports_panoramisk_matching() -> None:
    frame = {"Response": "Success", "ActionID": "ccd-1", "Message": "Pong"}
    message = to_message(frame)
    assert message.action_id == "ccd-1"
    assert message.success
    assert message["actionid"] == "ccd-1"
    assert message_to_frame(message) == frame


def test_to_message_carries_follows_body_as_content() -> None:
    frame = {"Response": "Follows", "ActionID": "2", "Output": "a\nb"}
    assert list(to_message(frame).iter_lines()) == ["a", "b"]


# -- ChanVariable (channelvars=) and other real-traffic shapes -------------------------


def test_prefixed_chanvariables_of_a_dial_are_kept_by_name() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: DialBegin\r\nChannel: Local/1@a-0001;2\r\nChanVariable: CCD_REQUEST_ID=r-7\r\n"
        b"DestChannel: PJSIP/200-0001\r\nDestChanVariable: CCD_REQUEST_ID=\r\n"
        b"LocalOneChanVariable: CCD_REQUEST_ID=one\r\nLocalTwoChanVariable: CCD_REQUEST_ID=two\r\n"
        b"DialString: 200\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {
            "Event": "DialBegin",
            "Channel": "Local/1@a-0001;2",
            "ChanVariable(CCD_REQUEST_ID)": "r-7",
            "DestChannel": "PJSIP/200-0001",
            "DestChanVariable(CCD_REQUEST_ID)": "",
            "LocalOneChanVariable(CCD_REQUEST_ID)": "one",
            "LocalTwoChanVariable(CCD_REQUEST_ID)": "two",
            "DialString": "200",
        }
    ]
    assert decoder.malformed == 0
    assert decoder.repeated_headers == 0


def test_originate_response_channel_named_variable_is_kept_as_sent() -> None:
    # OriginateResponse names the variable by channel: ``ChanVariable(<channel>): N=v``.
    decoder = decoder_after_greeting()
    data = (
        b"Event: OriginateResponse\r\nActionID: ccd-3\r\nResponse: Success\r\n"
        b"ChanVariable(Local/200@ccd-originate-00000001;1): CCD_REQUEST_ID=r-9\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {
            "Event": "OriginateResponse",
            "ActionID": "ccd-3",
            "Response": "Success",
            "ChanVariable(Local/200@ccd-originate-00000001;1)": "CCD_REQUEST_ID=r-9",
        }
    ]


def test_several_channelvars_each_get_their_own_header() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: Newstate\r\nChanVariable: CCD_REQUEST_ID=r-1\r\nChanVariable: CCD_QUEUE=sales\r\n"
        b"DestChanVariable: CCD_REQUEST_ID=r-2\r\nDestChanVariable: CCD_QUEUE=\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {
            "Event": "Newstate",
            "ChanVariable(CCD_REQUEST_ID)": "r-1",
            "ChanVariable(CCD_QUEUE)": "sales",
            "DestChanVariable(CCD_REQUEST_ID)": "r-2",
            "DestChanVariable(CCD_QUEUE)": "",
        }
    ]
    assert decoder.malformed == 0
    assert decoder.repeated_headers == 0


def test_odd_chanvariable_spellings_follow_the_header_rules() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: Newstate\r\nChanVariable: NO_EQUALS\r\nChanVariable:TIGHT=1\r\n"
        b"ChanVariable: SPACED=a: b\r\nValue: ChanVariable: INSIDE=value\r\n"
        b"Pre:ChanVariable: PREFIXED=1\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {
            "Event": "Newstate",
            "ChanVariable(NO_EQUALS)": "",
            "ChanVariable(TIGHT)": "1",
            "ChanVariable(SPACED)": "a: b",
            "Value": "ChanVariable: INSIDE=value",
            "Pre": "ChanVariable: PREFIXED=1",
        }
    ]
    assert decoder.malformed == 0


def test_repeated_chanvariable_keeps_the_first_and_is_counted() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: Newstate\r\nChanVariable: CCD_REQUEST_ID=first\r\n"
        b"ChanVariable: CCD_REQUEST_ID=second\r\n\r\n"
        b"Event: Newstate\r\nChanVariable(CCD_REQUEST_ID): literal\r\n"
        b"ChanVariable: CCD_REQUEST_ID=renamed\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {"Event": "Newstate", "ChanVariable(CCD_REQUEST_ID)": "first"},
        {"Event": "Newstate", "ChanVariable(CCD_REQUEST_ID)": "literal"},
    ]
    assert decoder.repeated_headers == 2
    assert decoder.malformed == 0


def test_malformed_frames_with_chanvariable_are_still_caught() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: Newstate\r\nChanVariable: CCD_REQUEST_ID=a\r\nEvent: Hangup\r\n\r\n"
        b"Event: Newstate\r\nChanVariable: CCD_REQUEST_ID=b\r\nno colon here\r\n\r\n"
        b"Response: Success\r\nActionID: 1\r\nChanVariable: X=1\r\nActionID: 2\r\n\r\n"
        b"Channel: x\r\nChanVariable: CCD_REQUEST_ID=c\r\n\r\n"
        b"Event: Newstate\r\nChanVariable: CCD_REQUEST_ID=\xff\r\n\r\n" + event("After")
    )
    assert decoder.feed(data) == [{"Event": "After"}]
    assert decoder.malformed_by_reason == {
        "duplicate_header": 2,
        "no_colon": 1,
        "no_type": 1,
        "bad_utf8": 1,
    }


def test_lf_frames_inside_a_crlf_stream_are_split() -> None:
    decoder = decoder_after_greeting()
    data = (
        b"Event: A\r\nX: 1\n\nEvent: B\nChanVariable: V=2\r\n\r\n"
        b"Event: C\r\nNote: carriage\rreturn\r\n\r\n"
    )
    assert decoder.feed(data) == [
        {"Event": "A", "X": "1"},
        {"Event": "B", "ChanVariable(V)": "2"},
        {"Event": "C", "Note": "carriage\rreturn"},
    ]
    assert decoder.malformed == 0


def reference_decode(
    data: bytes, max_headers: int = 128
) -> tuple[list[dict[str, str]], Counter[str]]:
    """The header rules, written plainly: what the decoder must produce for any chunking."""
    frames: list[dict[str, str]] = []
    malformed: Counter[str] = Counter()
    for raw in data.replace(b"\r\n", b"\n").split(b"\n\n")[:-1]:
        try:
            lines = raw.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            malformed["bad_utf8"] += 1
            continue
        if len(lines) > max_headers:
            malformed["too_many_headers"] += 1
            continue
        headers: dict[str, str] = {}
        reason = None
        for line in lines:
            if not line:
                continue
            key, colon, value = line.partition(":")
            if not colon:
                reason = "no_colon"
                break
            value = value.removeprefix(" ")
            if key.endswith("ChanVariable"):
                name, _, value = value.partition("=")
                key = f"{key}({name})"
            if key in headers:
                if key in ("Event", "Response", "ActionID"):
                    reason = "duplicate_header"
                    break
                continue
            headers[key] = value
        if reason is None and headers and not ("Event" in headers or "Response" in headers):
            reason = "no_type"
        if reason is not None:
            malformed[reason] += 1
        elif headers:
            frames.append(headers)
    return frames, malformed


_LINES = [
    "Privilege: call,all",
    "Channel: Local/1@a-0001;1",
    "CallerIDName: A: B",
    "AccountCode: ",
    "ChanVariable: CCD_REQUEST_ID=r-1",
    "ChanVariable: CCD_QUEUE=x=y",
    "DestChanVariable: CCD_REQUEST_ID=",
    "LocalTwoChanVariable: CCD_REQUEST_ID=two",
    "ChanVariable: NO_EQUALS",
    "ChanVariable:TIGHT=1",
    "ChanVariable(Local/x;1): CCD_REQUEST_ID=r-2",
    "Value: ChanVariable: A=b",
    "Pre:ChanVariable: A=b",
    "Note: carriage\rreturn",
    "Value: 1",
    "Value: 2",
    "ActionID: 5",
    "Uniqueid: 1795597353.1",
]
_RARE_LINES = ["no colon here", "Event: Again", "Name: \udcff"]


def random_stream(rng: random.Random, frames: int) -> bytes:
    out = []
    for _ in range(frames):
        lines = [rng.choice(["Event: Newstate", "Event: VarSet", "Response: Success"])]
        lines += rng.choices(_LINES, k=rng.randrange(0, 24))
        if rng.random() < 0.05:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(_RARE_LINES))
        if rng.random() < 0.02:
            lines = lines[1:]  # no Event/Response
        ends = [("\n" if rng.random() < 0.1 else "\r\n") for _ in range(len(lines) + 1)]
        text = "".join(line + end for line, end in zip(lines, ends[:-1], strict=True)) + ends[-1]
        out.append(text.encode("utf-8", "surrogateescape"))
        if rng.random() < 0.02:
            out.append(b"\r\n")  # a stray blank line between frames
    return b"".join(out)


def test_any_chunking_of_mixed_traffic_decodes_as_the_header_rules_say() -> None:
    rng = random.Random(20261125)
    data = random_stream(rng, 3000)
    expected_frames, expected_malformed = reference_decode(data)
    # The stream holds both kinds.
    assert len(expected_frames) > 2000
    assert sum(expected_malformed.values()) > 50
    for sizes in ([len(data)], [65536], [rng.randrange(1, 9000) for _ in range(400)], [7]):
        decoder = decoder_after_greeting()
        frames: list[dict[str, str]] = []
        start = 0
        index = 0
        while start < len(data):
            size = sizes[index % len(sizes)]
            frames += decoder.feed(data[start : start + size])
            start += size
            index += 1
        assert frames == expected_frames
        assert decoder.malformed_by_reason == expected_malformed
        assert decoder.buffered_bytes == 0


def test_a_large_read_comes_out_in_batches_holding_the_same_frames() -> None:
    # asyncio hands over up to 256 KiB at once: the frames come in ~16 KiB batches, so
    # the gateway routes each before the next is decoded.
    rng = random.Random(7)
    data = random_stream(rng, 1500)
    expected_frames, expected_malformed = reference_decode(data)
    assert len(data) > 100_000
    for size in (len(data), 256 * 1024, 65536, 5000):
        decoder = decoder_after_greeting()
        batches: list[list[dict[str, str]]] = []
        for start in range(0, len(data), size):
            batches += decoder.feed_batches(data[start : start + size])
        assert [frame for batch in batches for frame in batch] == expected_frames
        assert decoder.malformed_by_reason == expected_malformed
        assert decoder.frames == len(expected_frames)
        assert decoder.buffered_bytes == 0
        if size >= 65536:
            # ~16 KiB slices of whole frames: never one batch per read.
            assert len(batches) >= len(data) // (20 * 1024)


def test_feed_batches_leaves_an_unfinished_frame_for_the_next_read() -> None:
    decoder = decoder_after_greeting()
    first = list(decoder.feed_batches(event("A") + b"Event: B\r\nX: 1"))
    assert first == [[{"Event": "A"}]]
    assert decoder.buffered_bytes == len(b"Event: B\r\nX: 1")
    assert list(decoder.feed_batches(b"\r\n\r\n")) == [[{"Event": "B", "X": "1"}]]
    assert list(decoder.feed_batches(b"Event: C\r\n")) == []
