from __future__ import annotations

from pathlib import Path

import pytest

from opencrate.config import Settings, load_settings
from opencrate.errors import ConfigError


def test_defaults_work_without_a_file() -> None:
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.port == 8080


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "opencrate.toml"
    path.write_text(
        '[server]\nport = 9000\n[data]\ndir = "db"\n[persistence]\ndefault = "sqlite"\n'
    )
    settings = load_settings(path)
    assert settings.port == 9000
    assert settings.data_dir == (tmp_path / "db").resolve()
    assert settings.sections == {"persistence": {"default": "sqlite"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 1\n", r"\[server.prot\]: unknown setting"),
        ("[sever]\nport = 1\n", r"\[sever\]: unknown section"),
        ('[server]\nport = "80"\n', r"\[server.port\]: must be int"),
        ("[server]\nport = 70000\n", r"port 70000 is out of range"),
        ("[server\n", "not valid TOML"),
        ('[server]\nallowed_hosts = "bms"\n', r"\[server.allowed_hosts\]: must be list"),
        (
            '[server]\nallowed_hosts = ["bms:8080"]\n',
            r"\[server.allowed_hosts\]: host name 'bms:8080' must be a name or IP address "
            "without scheme, port or path",
        ),
        ("[server]\nallowed_hosts = [1]\n", r"host name 1 must be a non-empty string"),
        ('[server]\ncertfile = "c.pem"\n', r"\[server.keyfile\]: certfile and keyfile go together"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "opencrate.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_server_security_settings_and_their_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "opencrate.toml"
    path.write_text(
        '[server]\nhost = "0.0.0.0"\nallowed_hosts = ["BMS.Plant.Example.", ".site.example"]\n'
        'certfile = "tls/cert.pem"\nkeyfile = "/etc/opencrate/key.pem"\n'
    )
    settings = load_settings(path)
    assert settings.allowed_hosts == ("bms.plant.example", ".site.example")
    assert settings.certfile == (tmp_path / "tls" / "cert.pem").resolve()
    assert settings.keyfile == Path("/etc/opencrate/key.pem")
    assert Settings().allowed_hosts == ()
    assert Settings().certfile is None


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_persistence_file_is_relative_to_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    path = site / "opencrate.toml"
    path.write_text('[persistence]\nfile = "conf/persistence.toml"\n')
    monkeypatch.chdir(tmp_path)  # not the settings file's directory
    settings = load_settings(path)
    assert settings.sections["persistence"] == {
        "file": str((site / "conf" / "persistence.toml").resolve())
    }
    absolute = tmp_path / "elsewhere.persist"
    path.write_text(f'[persistence]\nfile = "{absolute}"\n')
    assert load_settings(path).sections["persistence"]["file"] == str(absolute.resolve())
    # Inline content has no file to resolve and is passed on as read.
    path.write_text('[persistence]\ndefault = "sqlite"\n')
    assert load_settings(path).sections["persistence"] == {"default": "sqlite"}
