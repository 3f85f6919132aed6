"""Password rules and argon2 off the loop."""

from __future__ import annotations

import dataclasses

import argon2
import pytest

from opencrate.components.users.passwords import Passwords, check_password_rules
from opencrate.errors import InvalidInput


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", "at least 10 characters long, got 5"),
        ("x" * 1025, "at most 1024 bytes"),
        ("é" * 600, "at most 1024 bytes"),
        ("Operator-1", "must not be the user name"),
        (12345678901, "must be a string"),
    ],
)
def test_the_rules_say_which_one_a_password_breaks(password: object, says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_password_rules(password, user="operator-1")
    assert says in str(raised.value)
    assert raised.value.detail["field"] == "password"


def test_a_good_password_passes() -> None:
    assert check_password_rules("correct horse battery", user="alice") == "correct horse battery"


async def test_verify_takes_the_right_password_only_and_an_unknown_user_never() -> None:
    passwords = Passwords(argon2.profiles.CHEAPEST)
    encoded = await passwords.hash("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert await passwords.verify(encoded, "correct horse battery")
    assert not await passwords.verify(encoded, "correct horse battery!")
    assert not await passwords.verify(None, "correct horse battery")  # the dummy hash
    assert not await passwords.verify("not a hash", "x")
    assert not await passwords.verify(encoded, "x" * 2000)
    assert not passwords.needs_rehash(encoded)
    stronger = Passwords(dataclasses.replace(argon2.profiles.CHEAPEST, time_cost=2))
    assert stronger.needs_rehash(encoded)
