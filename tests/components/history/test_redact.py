"""Masking DSN passwords: both libpq forms, messages quoting them, the model's JSON and repr."""

from __future__ import annotations

import pytest

from opencrate.components.history.config.model import ServiceConfig, service_to_dict
from opencrate.components.history.config.redact import MASK, redact_secrets, unmask_dsn


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:s3cret@db/h", f"postgresql://u:{MASK}@db/h"),
        (
            "postgres://u:s3cret@db:5432/h?sslmode=require",
            f"postgres://u:{MASK}@db:5432/h?sslmode=require",
        ),
        ("postgresql://:s3cret@db/h", f"postgresql://:{MASK}@db/h"),
        (
            "postgresql://db/h?user=u&password=s3cret&x=1",
            f"postgresql://db/h?user=u&password={MASK}&x=1",
        ),
        ("host=db password=s3cret user=u", f"host=db password={MASK} user=u"),
        ("host=db password = 's3 \\'cret' user=u", f"host=db password = {MASK} user=u"),
        ("host=db PASSWORD=s3cret", f"host=db PASSWORD={MASK}"),
        # Nothing secret: unchanged.
        ("postgresql://u@db/h", "postgresql://u@db/h"),
        ("host=db user=u dbname=test", "host=db user=u dbname=test"),
    ],
)
def test_redact_masks_the_password_and_only_it(dsn: str, shown: str) -> None:
    assert redact_secrets(dsn) == shown
    assert "s3" not in redact_secrets(dsn)


def test_a_message_quoting_a_dsn_is_masked() -> None:
    message = 'connect: invalid dsn "postgresql://u:s3cret@db/h": bad port'
    assert redact_secrets(message) == f'connect: invalid dsn "postgresql://u:{MASK}@db/h": bad port'


def test_unmask_gives_back_the_stored_dsn_only_for_its_own_mask() -> None:
    stored = "postgresql://u:s3cret@db/h"
    assert unmask_dsn(f"postgresql://u:{MASK}@db/h", stored) == stored
    assert unmask_dsn(stored, stored) == stored
    other = f"postgresql://u:{MASK}@elsewhere/h"
    assert unmask_dsn(other, stored) == other
    assert unmask_dsn("postgresql://u:new@db/h", stored) == "postgresql://u:new@db/h"


def test_the_model_keeps_the_real_dsn_and_shows_the_mask() -> None:
    dsn = "host=db user=u password=s3cret"
    service = ServiceConfig(name="central", kind="postgresql", options={"dsn": dsn})
    assert service.options["dsn"] == dsn
    assert service_to_dict(service)["dsn"] == f"host=db user=u password={MASK}"
    assert service_to_dict(service, reveal_secrets=True)["dsn"] == dsn
    assert "s3cret" not in repr(service)
