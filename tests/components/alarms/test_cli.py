"""``opencrate alarms list|ack|shelve`` against a real server on loopback."""

from __future__ import annotations

import json

from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.components.alarms.store import AlarmState, AlarmStore

P1 = "1101/analog-input-1"
P2 = "1102/analog-input-1"


async def _run(*args: str) -> tuple[int, str]:
    result = await CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


async def test_list_shows_open_alarms_most_severe_first_with_filters(
    live_services: Services, api_url: str
) -> None:
    minor = await live_services.get(AlarmStore).raise_alarm(
        P1, "high_limit", "minor", "26.4 above 26"
    )
    major = await live_services.get(AlarmStore).raise_alarm(P2, "low_limit", "major", "15 below 16")
    await live_services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "26.8 above 26")
    code, output = await _run("alarms", "list", "--url", api_url)
    assert code == 0, output
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == [f"#{major.id}", f"#{minor.id}"]
    assert lines[1].split()[1:3] == ["minor", "active-unacked"]
    assert "high_limit x2" in lines[1]
    assert lines[1].endswith("26.8 above 26")
    code, output = await _run("alarms", "list", "--severity", "major", "--json", "--url", api_url)
    assert [json.loads(line)["id"] for line in output.splitlines()] == [major.id]


async def test_ack_and_shelve_go_through_the_server(live_services: Services, api_url: str) -> None:
    alarm = await live_services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "hot")
    code, output = await _run(
        "alarms", "ack", str(alarm.id), "--comment", "on it", "--url", api_url
    )
    assert code == 0, output
    assert "active-acked" in output
    acked = live_services.get(AlarmStore).open_alarm(P1, "high_limit")
    assert acked is not None
    assert acked.state is AlarmState.ACTIVE_ACKED
    assert acked.ack_comment == "on it"
    code, output = await _run("alarms", "shelve", str(alarm.id), "--until", "2h", "--url", api_url)
    assert code == 0, output
    assert "[shelved]" in output
    code, output = await _run("alarms", "list", "--url", api_url)
    assert output.strip() == "no open alarms"
    code, output = await _run("alarms", "shelve", str(alarm.id), "--unshelve", "--url", api_url)
    assert code == 0, output
    await live_services.get(AlarmStore).clear(alarm.id)
    code, output = await _run("alarms", "list", "--history", "--url", api_url)
    assert output.split()[0:3] == [f"#{alarm.id}", "minor", "closed"]


async def test_errors_are_one_line_and_change_nothing(
    live_services: Services, api_url: str
) -> None:
    alarm = await live_services.get(AlarmStore).raise_alarm(P1, "high_limit", "minor", "hot")
    code, output = await _run("alarms", "ack", "999", "--url", api_url)
    assert code == 1
    assert "no open alarm with id 999" in output
    code, output = await _run(
        "alarms", "shelve", str(alarm.id), "--until", "soon", "--url", api_url
    )
    assert code == 1
    assert "until" in output
    # '²' passes str.isdigit(): int() used to end the command in a traceback.
    code, output = await _run("alarms", "shelve", str(alarm.id), "--until", "²", "--url", api_url)
    assert code == 1
    assert "until" in output
    code, output = await _run("alarms", "shelve", str(alarm.id), "--url", api_url)
    assert code == 2
    assert "--until" in output
    assert live_services.get(AlarmStore).active() == [alarm]
