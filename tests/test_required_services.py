"""``require_service`` / ``require_program``: a missing service skips, or fails in CI."""

from __future__ import annotations

import pytest

from tests.conftest import require_program


def test_a_missing_program_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCRATE_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        require_program("chromium", None)


def test_a_missing_program_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENCRATE_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="OPENCRATE_REQUIRE_SERVICES=1"):
        require_program("chromium", None)


def test_a_found_program_is_returned() -> None:
    assert require_program("chromium", "/usr/bin/chromium") == "/usr/bin/chromium"
