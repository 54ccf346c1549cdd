"""The serial framings: documented examples, garbage, partial frames, and a hypothesis fuzz."""

from __future__ import annotations

from edgeagent_drivers.serial.framing import (
    LineStateFraming,
    MatFrame,
    NmeaBedFraming,
    encode_nmea_bed,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# The examples printed in docs/serial-bedmat-protocol.md, checksums computed by hand.
DOC_IN = b"$BED,IN,612*71\r\n"
DOC_OUT = b"$BED,OUT,8*35\r\n"


def test_documented_examples_decode() -> None:
    framing = NmeaBedFraming()
    frames = framing.feed(DOC_IN + DOC_OUT)
    assert [(f.state, f.pressure) for f in frames] == [("in_bed", 612), ("out_of_bed", 8)]
    assert encode_nmea_bed("IN", 612) == DOC_IN
    assert framing.stats.garbage_bytes == 0


def test_frame_split_across_reads_and_garbage_around_it() -> None:
    framing = NmeaBedFraming()
    assert framing.feed(b"\x00\xff noise $BED,I") == []
    assert framing.feed(b"N,6") == []
    frames = framing.feed(b"12*71\r\nmore noise")
    assert [f.state for f in frames] == ["in_bed"]
    assert framing.stats.garbage_bytes == len(b"\x00\xff noise ") + len(b"more noise")


def test_bad_checksum_and_unknown_state_are_counted_not_decoded() -> None:
    framing = NmeaBedFraming()
    unknown_state = b"$BED,UP,612*%02X\r\n" % (0x71 ^ ord("I") ^ ord("N") ^ ord("U") ^ ord("P"))
    assert framing.feed(b"$BED,IN,612*70\r\n" + unknown_state + DOC_IN) != []
    assert framing.stats.errors == {"checksum": 1, "fields": 1}
    assert framing.stats.frames == 1


def test_overlong_garbage_after_dollar_does_not_grow_the_buffer() -> None:
    framing = NmeaBedFraming()
    framing.feed(b"$" + b"A" * 10_000)
    assert framing.stats.errors["overlong"] >= 1
    assert [f.state for f in framing.feed(DOC_OUT)] == ["out_of_bed"]


def test_line_framing_words() -> None:
    framing = LineStateFraming()
    frames = framing.feed(b"IN\r\nbanana\r\noff\n1\n\n" + b"x" * 100 + b"\nOUT\n")
    assert [f.state for f in frames] == ["in_bed", "out_of_bed", "in_bed", "out_of_bed"]
    assert framing.stats.bad_frames == 2


frames_st = st.tuples(st.sampled_from(["IN", "OUT", "FLT"]),
                      st.integers(min_value=0, max_value=99999))
# A stream is a list of segments: (None, junk bytes) or ((state, pressure), frame bytes).
segments_st = st.lists(
    st.one_of(st.binary(max_size=120).map(lambda junk: (None, junk)),
              frames_st.map(lambda f: (f, encode_nmea_bed(f[0], f[1])))),  # type: ignore[arg-type]
    max_size=30)


@settings(max_examples=300, deadline=None)
@given(segments=segments_st, cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=60))
def test_arbitrary_bytes_never_raise_and_embedded_frames_decode(
        segments: list[tuple[tuple[str, int] | None, bytes]], cuts: list[int]) -> None:
    stream = b"".join(data for _, data in segments)
    expected = [frame for frame, _ in segments if frame is not None]
    framing = NmeaBedFraming()
    decoded: list[MatFrame] = []
    pos = 0
    for cut in cuts:  # arbitrary read boundaries
        decoded += framing.feed(stream[pos:pos + cut])
        pos += cut
    decoded += framing.feed(stream[pos:])
    words = {"in_bed": "IN", "out_of_bed": "OUT", "fault": "FLT"}
    got = [(words[f.state], f.pressure) for f in decoded]
    it = iter(got)
    assert all(any(g == e for g in it) for e in expected), (expected, got)
    assert framing.stats.bytes_in == len(stream)
    assert framing._partial is None or len(framing._partial) <= NmeaBedFraming.MAX_FRAME + 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_line_framing_never_raises(data: bytes) -> None:
    framing = LineStateFraming()
    framing.feed(data)
    assert framing.stats.bytes_in == len(data)
