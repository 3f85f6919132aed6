"""The BACnet peer's packages: missing ones skip the test, or fail it when CI asks for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import bacnet_js_peer


@pytest.fixture
def packages_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bacnet_js_peer, "PACKAGE", tmp_path / "absent" / "package.json")
    for name in ("OPENCRATE_BACNET_JS", "OPENCRATE_REQUIRE_SERVICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("packages_missing")
def test_missing_packages_skip_with_the_install_command() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"npm ci --prefix tests/peers/bacnet_js"):
        bacnet_js_peer.require_bacnet_js()


@pytest.mark.usefixtures("packages_missing")
@pytest.mark.parametrize("variable", ["OPENCRATE_BACNET_JS", "OPENCRATE_REQUIRE_SERVICES"])
def test_missing_packages_fail_when_ci_requires_them(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(pytest.fail.Exception, match=rf"is not installed .* and {variable}=1"):
        bacnet_js_peer.require_bacnet_js()


@pytest.fixture
def _needs_bacnet_js() -> None:
    # A skip raised inside a trio test loses its reason; a plain fixture keeps it.
    bacnet_js_peer.require_bacnet_js()


@pytest.mark.usefixtures("_needs_bacnet_js")
async def test_a_bad_object_list_stops_the_device_with_a_message_naming_it() -> None:
    bad = [{"type": "analog-input", "instance": -1}]
    with pytest.raises(RuntimeError, match=r"object 0: instance must be 0\.\.4194302"):
        async with bacnet_js_peer.bacnet_js_device(objects=bad):
            pass  # pragma: no cover - the device does not start
    with pytest.raises(RuntimeError, match=r'object 0: type "schedule" is not an analog'):
        async with bacnet_js_peer.bacnet_js_device(objects=[{"type": "schedule", "instance": 1}]):
            pass  # pragma: no cover
