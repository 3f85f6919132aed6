"""Errors in component sections ([alarms], [events], ...) name the settings file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.config import Settings, load_settings
from opencrate.errors import ConfigError

HEAD = '[data]\ndir = "data"\n\n'


def build(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "opencrate.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def start_error(path: Path) -> ConfigError:
    """The error of building the services and their levels, as ``opencrate serve`` does."""
    with pytest.raises(ConfigError) as caught:
        Services.create(load_settings(path)).build_supervisor()
    return caught.value


def line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_a_bad_alarm_limit_names_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    path = build(
        tmp_path,
        '[alarms]\nstale_action = "mark"\n\n'
        '[alarms.limits."1001/analog-input-7"]\nhigh = 1000.0\nlow = 1200.0\n',
    )
    error = start_error(path)
    assert (error.file, error.key) == (str(path), "alarms.limits.1001/analog-input-7.low")
    assert error.line == line_of(path, "low = 1200.0")
    assert str(error) == (
        f"{path}:{error.line} [alarms.limits.1001/analog-input-7.low]: "
        "low 1200.0 must be below high 1000.0"
    )


def test_a_dotted_point_id_in_an_inline_rule_is_located(tmp_path: Path) -> None:
    path = build(
        tmp_path,
        '[alarms.limits]\n"site.a/zat" = { high = 20 }\n"site.b/zat" = { high = "hot" }\n',
    )
    error = start_error(path)
    assert error.key == "alarms.limits.site.b/zat.high"
    assert error.line == line_of(path, '"site.b/zat" = { high = "hot" }')


@pytest.mark.parametrize(
    ("text", "key", "at"),
    [
        ('[events]\nretention = "forever"\n', "events.retention", 'retention = "forever"'),
        ("[events]\npurge_batch = 0\n", "events.purge_batch", "purge_batch = 0"),
        ('[alarms]\nstale_action = "shout"\n', "alarms.stale_action", 'stale_action = "shout"'),
        ("[properties]\ncolour = 1\n", "properties.colour", "colour = 1"),
    ],
)
def test_every_component_section_error_names_the_file(
    tmp_path: Path, text: str, key: str, at: str
) -> None:
    path = build(tmp_path, text)
    error = start_error(path)
    assert (error.file, error.key) == (str(path), key)
    assert error.line == line_of(path, at)
    assert str(error).startswith(f"{path}:{error.line} [{key}]: ")


def test_a_section_that_is_not_a_table_is_named_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "opencrate.toml"
    path.write_text(f'persistence = "sqlite"\n{HEAD}', encoding="utf-8")
    error = start_error(path)
    assert (error.file, error.line, error.key) == (str(path), 1, "persistence")


def test_a_section_added_in_code_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    # `serve --demo` adds [persistence] itself; an error there is not the file's.
    settings = load_settings(build(tmp_path, "[events]\n"))
    settings = settings.with_changes(sections={**settings.sections, "alarms": {"x": 1}})
    with pytest.raises(ConfigError) as caught:
        Services.create(settings).build_supervisor()
    assert (caught.value.file, caught.value.key) == (None, "alarms.x")


def test_an_error_that_already_names_a_file_is_kept() -> None:
    settings = Settings(file=Path("opencrate.toml"), file_sections=frozenset({"alarms"}))
    error = ConfigError("bad", file="rules.persist", line=3, key="alarms.x")
    assert settings.located(error) is error
    without = ConfigError("bad", key="alarms.x")
    located = settings.located(without)
    assert (located.file, located.line, located.key) == ("opencrate.toml", None, "alarms.x")
    assert str(located) == "opencrate.toml [alarms.x]: bad"


@pytest.mark.parametrize("command", [["init"], ["serve", "--port", "0"]])
async def test_the_cli_prints_one_line_naming_file_and_line(
    tmp_path: Path, command: list[str]
) -> None:
    path = build(tmp_path, "[properties]\ncolour = 1\n")
    result = await CliRunner().invoke(cli, ["--config", str(path), *command])
    assert result.exit_code == 1
    assert result.output == f"Error: {path}:5 [properties.colour]: unknown setting\n"
    assert not (tmp_path / "data" / "nodes.db").exists()  # nothing was created
