from __future__ import annotations

import pytest
import trio
import trio.testing

from opencrate.clock import TrioClock, ms_to_iso, parse_duration_ms, parse_time_ms
from opencrate.errors import InvalidInput

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [("250ms", 250), ("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000), ("1.5d", 129_600_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "ahead", "ms"),
    [
        ("1800000000000", False, NOW),
        ("2h", False, NOW - 7_200_000),
        ("2h", True, NOW + 7_200_000),
    ],
)
def test_epoch_ms_and_durations_from_now(text: str, ahead: bool, ms: int) -> None:
    assert parse_time_ms(text, now_ms=NOW, ahead=ahead) == ms


def test_iso_times_are_absolute_and_naive_means_utc() -> None:
    aware = parse_time_ms("2027-01-15T08:00:00Z", now_ms=NOW, ahead=True)
    assert aware == parse_time_ms("2027-01-15T08:00:00") == parse_time_ms("2027-01-15T09:00+01:00")
    assert ms_to_iso(aware) == "2027-01-15T08:00:00.000Z"


@pytest.mark.parametrize("text", ["soon", "", "2x", "yesterday-ish", "²", "--5", "²h", "1.2.3h"])
def test_bad_times_are_named(text: str) -> None:
    with pytest.raises(InvalidInput, match=repr(text).replace("(", r"\(")):
        parse_time_ms(text, now_ms=NOW)


async def test_trio_clock_moves_with_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    clock = TrioClock(start_ms=NOW)
    await trio.sleep(3600)
    assert clock.now_ms() == NOW + 3_600_000
