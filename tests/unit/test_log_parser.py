"""LogParser: a ``timestamps=true`` log stream, cut anywhere, into whole lines (or MAX_LINE pieces)."""

from __future__ import annotations

import random

import pytest

from airflow_k8s_async._kube.logs import MAX_LINE, PARTIAL, LogParser, LogTime, Piece, parse_log_time

STAMP = "2026-12-02T18:38:16.821652420Z"
LATER = "2026-12-02T18:38:17.000000001Z"


def kubelet(*lines: str, stamp: str = STAMP) -> bytes:
    """What the kubelet writes for these lines: a stamp before each runtime partial of PARTIAL bytes."""
    out = bytearray()
    for line in lines:
        raw = line.encode()
        parts = [raw[i : i + PARTIAL] for i in range(0, len(raw), PARTIAL)] or [b""]
        for part in parts:
            out += stamp.encode() + b" " + part
        out += b"\n"
    return bytes(out)


def parse(data: bytes, *, sizes: list[int] | None = None) -> list[Piece]:
    parser, out, pos = LogParser(), [], 0
    for size in sizes or [len(data)]:
        out += parser.feed(data[pos : pos + size])
        pos += size
    out += parser.feed(data[pos:])
    return out + parser.end()


def random_cuts(data: bytes, seed: int) -> list[int]:
    rng = random.Random(seed)
    sizes, total = [], 0
    while total < len(data):
        sizes.append(rng.choice([1, 2, 7, 31, 32, 33, 4096, 16_384, 16_415, 70_000]))
        total += sizes[-1]
    return sizes


def lines_of(pieces: list[Piece]) -> list[tuple[LogTime | None, str]]:
    """Pieces joined back into lines (stamp of the first piece)."""
    joined: list[tuple[LogTime | None, str]] = []
    for stamp, text, first in pieces:
        if first:
            joined.append((stamp, text))
        else:
            joined[-1] = (joined[-1][0], joined[-1][1] + text)
    return joined


@pytest.mark.parametrize("seed", range(8))
def test_short_and_long_lines_come_whole_however_the_stream_is_cut(seed: int) -> None:
    lines = [
        "short",
        "",
        "x" * PARTIAL,  # exactly one partial
        "y" * (PARTIAL + 1),
        "a-" + "z" * 100 * 1024,  # the kubelet puts six stamps inside this one
        f"{STAMP} an application's own stamp is kept",
        "é" * (PARTIAL // 2 + 3),  # multi-byte characters across a partial's end
    ]
    data = kubelet(*lines)
    assert data.count(STAMP.encode()) > len(lines) + 6, "the input must carry inner stamps"
    pieces = parse(data, sizes=random_cuts(data, seed))
    assert [text for _, text, _ in pieces] == lines
    assert all(first for _, _, first in pieces)
    assert {stamp for stamp, _, _ in pieces} == {parse_log_time(STAMP)}


def test_a_line_longer_than_max_line_comes_in_pieces_with_one_stamp() -> None:
    line = "ü" * (MAX_LINE * 5 // 4)  # 2.5 MiB of two-byte characters
    data = kubelet(line, "next", stamp=LATER)
    pieces = parse(data, sizes=random_cuts(data, 3))
    assert [first for _, _, first in pieces] == [True, False, False, True]
    assert all(len(text.encode()) <= MAX_LINE for _, text, _ in pieces)
    assert "\ufffd" not in "".join(text for _, text, _ in pieces), "a character was split"
    assert lines_of(pieces) == [(parse_log_time(LATER), line), (parse_log_time(LATER), "next")]


def test_lines_without_a_stamp_and_an_unterminated_last_line() -> None:
    assert parse(b"plain text\n" + STAMP.encode() + b" tail") == [
        (None, "plain text", True),
        (parse_log_time(STAMP), "tail", True),
    ]
    assert parse(b"") == []
