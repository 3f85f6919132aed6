"""The TOML in the scenario how-to must be a scenario that loads."""

from __future__ import annotations

import re

from opencrate.components.scenario.build import build_nodes
from opencrate.components.scenario.parse import parse_scenario
from tests.harness import REPO_ROOT

HOW_TO = REPO_ROOT / "docs" / "how-to" / "write-a-scenario.md"
FCU = """\
[[equip]]
id = "3001"
dis = "FCU-1"
parent = "annex-lab"
binding = { protocol = "bacnet", device_instance = 3001 }
"""


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", HOW_TO.read_text(encoding="utf-8"), re.S)


def test_the_how_to_builds_a_building_step_by_step() -> None:
    site, equipment, meter, signal, schedule = toml_blocks()
    nodes = build_nodes(parse_scenario(site + "\n" + equipment + "\n" + meter))
    ids = {node.id for node in nodes}
    assert {"annex", "annex-lab", "3001/analog-input-1", "meter-annex/power"} <= ids
    # The signal examples replace points of FCU-1.
    for block in (signal, schedule):
        scenario = parse_scenario(site + "\n" + FCU + "\n" + block)
        assert len(scenario.signals()) == 1
