"""Password hashing (argon2id) off the trio loop, and the rules a password must meet.

argon2 is deliberately slow and memory-hungry (the default profile takes
about 120 ms and 64 MiB per hash, ``stack-feasibility.md`` §7): every hash
and verify runs in a worker thread, and at most :data:`CONCURRENT_HASHES` at
once, so a burst of logins queues instead of exhausting memory, and the loop
keeps serving (argon2-cffi releases the GIL).

A login for a user that does not exist still verifies, against a dummy hash
made with the same parameters, so its answer takes as long as a wrong
password for a real user: timing does not tell which user names exist.
"""

from __future__ import annotations

import argon2
import trio
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from opencrate.errors import InvalidInput

__all__ = [
    "CONCURRENT_HASHES",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_LENGTH",
    "Passwords",
    "check_password_rules",
]

#: Hashes at once: about the number of cores of the machines we run on.
CONCURRENT_HASHES = 2
MIN_PASSWORD_LENGTH = 10
#: argon2 would take longer, but a longer "password" is an attack on our CPU.
MAX_PASSWORD_BYTES = 1024


def check_password_rules(password: object, *, user: str) -> str:
    """``password`` if it is acceptable for ``user``; InvalidInput saying which rule it breaks."""
    if not isinstance(password, str):
        raise InvalidInput("password must be a string", field="password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters long, got {len(password)}",
            field="password",
        )
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"password must be at most {MAX_PASSWORD_BYTES} bytes (UTF-8)", field="password"
        )
    if password.strip().casefold() == user.casefold():
        raise InvalidInput("password must not be the user name", field="password")
    return password


class Passwords:
    """Hash and verify with one set of argon2 parameters; all methods run in a worker thread."""

    def __init__(self, parameters: argon2.Parameters) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        self._limiter = trio.CapacityLimiter(CONCURRENT_HASHES)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The encoded argon2id hash of ``password`` (salted; parameters included)."""
        return await trio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, encoded: str | None, password: str) -> bool:
        """Whether ``password`` matches ``encoded``; ``None`` (no such user) checks a dummy.

        A too long password is refused without hashing (it cannot have been set).
        """
        if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
            return False
        if encoded is None:
            encoded = await self._dummy_hash()
            await trio.to_thread.run_sync(self._check, encoded, password, limiter=self._limiter)
            return False
        return await trio.to_thread.run_sync(self._check, encoded, password, limiter=self._limiter)

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` was made with other parameters than ours (cheap: parses it)."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    def _check(self, encoded: str, password: str) -> bool:
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash("no user has this password: it only takes time")
        return self._dummy
