"""UserStore: users, their API tokens and login sessions (seed 000), in ``users.db``.

Nothing secret is stored in the clear: passwords as argon2id hashes
(:mod:`~opencrate.components.users.passwords`, hashed by the caller, off this
store's thread), token and session secrets as their sha256
(:func:`~opencrate.components.users.records.secret_digest`). This store does
no hashing and makes no decisions about who may log in; the
:class:`~opencrate.components.users.auth.Authenticator` does.

Schema (version 1)::

    user(name PRIMARY KEY, role, password_hash, disabled, created_ms, updated_ms)
    token(id PRIMARY KEY, name, owner -> user, role, secret_sha256 UNIQUE,
          created_ms, expires_ms, last_used_ms, revoked_ms)
          -- a name is unique among its owner's tokens that are not revoked
    session(secret_sha256 PRIMARY KEY, user -> user, csrf_token, created_ms,
            last_seen_ms, expires_ms)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from attrs import frozen

from opencrate.components.users.records import Session, TokenInfo, User
from opencrate.components.users.roles import Role
from opencrate.errors import Conflict, NotFound
from opencrate.runtime.actor import StoreActor

__all__ = ["Credentials", "SessionRow", "TokenRow", "UserStore"]

_SCHEMA_V1 = """
CREATE TABLE user (
    name          TEXT PRIMARY KEY CHECK (name <> ''),
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE TABLE token (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL CHECK (name <> ''),
    owner         TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER,
    last_used_ms  INTEGER,
    revoked_ms    INTEGER
);
CREATE UNIQUE INDEX token_owner_name_live ON token (owner, name) WHERE revoked_ms IS NULL;
CREATE TABLE session (
    secret_sha256 TEXT PRIMARY KEY,
    user          TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL
);
CREATE INDEX session_user ON session (user);
"""

_USER_COLUMNS = "name, role, disabled, created_ms, updated_ms"
_TOKEN_COLUMNS = "id, name, owner, role, created_ms, expires_ms, last_used_ms, revoked_ms"


@frozen(kw_only=True)
class Credentials:
    """A user with its password hash: for the Authenticator only, never for the API."""

    user: User
    password_hash: str


@frozen(kw_only=True)
class TokenRow:
    """A token found by its secret, with its owner's state at that moment."""

    token: TokenInfo
    owner_role: Role
    owner_disabled: bool


@frozen(kw_only=True)
class SessionRow:
    """A session found by its secret, with its user's state and when it was last seen."""

    session: Session
    last_seen_ms: int
    role: Role
    disabled: bool


def _user(row: sqlite3.Row | tuple[Any, ...]) -> User:
    name, role, disabled, created_ms, updated_ms = row
    return User(
        name=name,
        role=Role(role),
        disabled=bool(disabled),
        created_ms=created_ms,
        updated_ms=updated_ms,
    )


def _token(row: sqlite3.Row | tuple[Any, ...]) -> TokenInfo:
    ident, name, owner, role, created_ms, expires_ms, last_used_ms, revoked_ms = row
    return TokenInfo(
        id=ident,
        name=name,
        owner=owner,
        role=Role(role),
        created_ms=created_ms,
        expires_ms=expires_ms,
        last_used_ms=last_used_ms,
        revoked_ms=revoked_ms,
    )


def _require_user(conn: sqlite3.Connection, name: str) -> None:
    if not conn.execute("SELECT 1 FROM user WHERE name = ?", (name,)).fetchone():
        raise NotFound(f"user {name!r} not found", user=name)


class UserStore(StoreActor):
    """Users, tokens and sessions. Construct with the path of ``users.db``."""

    name = "users"
    migrations = (_SCHEMA_V1,)

    async def _one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        """The first row of a read (on the read connection), None when there is none."""

        def select(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            found: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
            return found

        return await self.read(select)

    # -- users -------------------------------------------------------------------
    async def add_user(self, name: str, role: Role, password_hash: str) -> User:
        """A new user; Conflict when the name is taken."""
        now = self.clock.now_ms()

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM user WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"user {name!r} already exists", user=name)
            conn.execute(
                "INSERT INTO user (name, role, password_hash, created_ms, updated_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, role.value, password_hash, now, now),
            )

        await self.write(insert)
        return User(name=name, role=role, disabled=False, created_ms=now, updated_ms=now)

    async def get_user(self, name: str) -> User:
        """The user ``name``; NotFound when there is none."""
        found = await self._one(f"SELECT {_USER_COLUMNS} FROM user WHERE name = ?", name)
        if found is None:
            raise NotFound(f"user {name!r} not found", user=name)
        return _user(found)

    async def credentials(self, name: str) -> Credentials | None:
        """The user and its password hash; None when there is no such user."""
        found = await self._one(
            f"SELECT {_USER_COLUMNS}, password_hash FROM user WHERE name = ?", name
        )
        if found is None:
            return None
        return Credentials(user=_user(found[:5]), password_hash=found[5])

    async def list_users(self) -> list[User]:
        """Every user, by name."""
        rows = await self.read(
            lambda conn: conn.execute(f"SELECT {_USER_COLUMNS} FROM user ORDER BY name").fetchall()
        )
        return [_user(row) for row in rows]

    async def count_users(self) -> int:
        return int(
            await self.read(lambda conn: conn.execute("SELECT count(*) FROM user").fetchone()[0])
        )

    async def update_user(
        self, name: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        """Change the role and/or the disabled flag; NotFound when there is no such user.

        Disabling ends the user's sessions (tokens stay, refused while disabled).
        """
        now = self.clock.now_ms()

        def update(conn: sqlite3.Connection) -> User:
            sets = ["updated_ms = ?"]
            values: list[Any] = [now]
            if role is not None:
                sets.append("role = ?")
                values.append(role.value)
            if disabled is not None:
                sets.append("disabled = ?")
                values.append(int(disabled))
            cur = conn.execute(f"UPDATE user SET {', '.join(sets)} WHERE name = ?", (*values, name))
            if cur.rowcount == 0:
                raise NotFound(f"user {name!r} not found", user=name)
            if disabled:
                conn.execute("DELETE FROM session WHERE user = ?", (name,))
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM user WHERE name = ?", (name,)
            ).fetchone()
            return _user(row)

        return await self.write(update)

    async def set_password_hash(
        self, name: str, password_hash: str, *, end_sessions_except: str | None = None
    ) -> None:
        """Store a new hash. With ``end_sessions_except``, end every other session of the user.

        A rehash on login passes None (nothing else changes); a password
        change passes the session it came through ("" for none), so whoever
        knew the old password is logged out everywhere else.
        """
        now = self.clock.now_ms()

        def update(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE user SET password_hash = ?, updated_ms = ? WHERE name = ?",
                (password_hash, now, name),
            )
            if cur.rowcount == 0:
                raise NotFound(f"user {name!r} not found", user=name)
            if end_sessions_except is not None:
                conn.execute(
                    "DELETE FROM session WHERE user = ? AND secret_sha256 <> ?",
                    (name, end_sessions_except),
                )

        await self.write(update)

    # -- tokens ------------------------------------------------------------------
    async def add_token(
        self,
        *,
        ident: str,
        name: str,
        owner: str,
        role: Role,
        digest: str,
        expires_ms: int | None,
    ) -> TokenInfo:
        """A new token; NotFound for no such owner, Conflict when the owner has one so named."""
        now = self.clock.now_ms()

        def insert(conn: sqlite3.Connection) -> None:
            _require_user(conn, owner)
            if conn.execute(
                "SELECT 1 FROM token WHERE owner = ? AND name = ? AND revoked_ms IS NULL",
                (owner, name),
            ).fetchone():
                raise Conflict(f"user {owner!r} already has a token named {name!r}", token=name)
            conn.execute(
                "INSERT INTO token (id, name, owner, role, secret_sha256, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ident, name, owner, role.value, digest, now, expires_ms),
            )

        await self.write(insert)
        return TokenInfo(
            id=ident,
            name=name,
            owner=owner,
            role=role,
            created_ms=now,
            expires_ms=expires_ms,
            last_used_ms=None,
            revoked_ms=None,
        )

    async def token_by_digest(self, digest: str) -> TokenRow | None:
        """The token with this secret digest and its owner's role and state; None if unknown."""
        found = await self._one(
            "SELECT t.id, t.name, t.owner, t.role, t.created_ms, t.expires_ms, "
            "t.last_used_ms, t.revoked_ms, u.role, u.disabled "
            "FROM token t JOIN user u ON u.name = t.owner WHERE t.secret_sha256 = ?",
            digest,
        )
        if found is None:
            return None
        return TokenRow(
            token=_token(found[:8]), owner_role=Role(found[8]), owner_disabled=bool(found[9])
        )

    async def get_token(self, ident: str) -> TokenInfo:
        """The token ``ident`` (revoked or not); NotFound when there is none."""
        found = await self._one(f"SELECT {_TOKEN_COLUMNS} FROM token WHERE id = ?", ident)
        if found is None:
            raise NotFound(f"token {ident!r} not found", token=ident)
        return _token(found)

    async def list_tokens(self, owner: str) -> list[TokenInfo]:
        """The owner's tokens, revoked ones too, oldest first; NotFound for no such user."""

        def select(conn: sqlite3.Connection) -> list[Any]:
            _require_user(conn, owner)
            return conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM token WHERE owner = ? ORDER BY created_ms, id",
                (owner,),
            ).fetchall()

        return [_token(row) for row in await self.read(select)]

    async def revoke_token(self, ident: str) -> TokenInfo:
        """Mark the token revoked (the row stays); NotFound, or Conflict if already revoked."""
        now = self.clock.now_ms()

        def update(conn: sqlite3.Connection) -> TokenInfo:
            row = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM token WHERE id = ?", (ident,)
            ).fetchone()
            if row is None:
                raise NotFound(f"token {ident!r} not found", token=ident)
            if row[7] is not None:
                raise Conflict(f"token {ident!r} is already revoked", token=ident)
            conn.execute("UPDATE token SET revoked_ms = ? WHERE id = ?", (now, ident))
            return _token((*row[:7], now))

        return await self.write(update)

    async def touch_token(self, ident: str) -> None:
        """Record that the token was used now (called once per cache period, not per request)."""
        now = self.clock.now_ms()
        await self.write(
            lambda conn: conn.execute(
                "UPDATE token SET last_used_ms = ? WHERE id = ?", (now, ident)
            )
        )

    # -- sessions ----------------------------------------------------------------
    async def add_session(self, session: Session, *, idle_timeout_ms: int) -> None:
        """Store a new session; sessions past their end or idle too long are deleted with it.

        Logins are when sessions are made, so that is when the ended ones go:
        the table never grows beyond the sessions that could still be used.
        """
        now = session.created_ms

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM session WHERE expires_ms <= ? OR last_seen_ms < ?",
                (now, now - idle_timeout_ms),
            )
            conn.execute(
                "INSERT INTO session (secret_sha256, user, csrf_token, created_ms, last_seen_ms, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.digest,
                    session.user,
                    session.csrf_token,
                    now,
                    now,
                    session.expires_ms,
                ),
            )

        await self.write(insert)

    async def session_by_digest(self, digest: str) -> SessionRow | None:
        """The session with this cookie digest and its user's role and state; None if unknown."""
        found = await self._one(
            "SELECT s.secret_sha256, s.user, s.csrf_token, s.created_ms, s.expires_ms, "
            "s.last_seen_ms, u.role, u.disabled "
            "FROM session s JOIN user u ON u.name = s.user WHERE s.secret_sha256 = ?",
            digest,
        )
        if found is None:
            return None
        digest_, user, csrf, created_ms, expires_ms, last_seen_ms, role, disabled = found
        return SessionRow(
            session=Session(
                digest=digest_,
                user=user,
                csrf_token=csrf,
                created_ms=created_ms,
                expires_ms=expires_ms,
            ),
            last_seen_ms=last_seen_ms,
            role=Role(role),
            disabled=bool(disabled),
        )

    async def touch_session(self, digest: str) -> None:
        now = self.clock.now_ms()
        await self.write(
            lambda conn: conn.execute(
                "UPDATE session SET last_seen_ms = ? WHERE secret_sha256 = ?", (now, digest)
            )
        )

    async def end_session(self, digest: str) -> None:
        """Delete the session (logout, or found expired); nothing when it is already gone."""
        await self.write(
            lambda conn: conn.execute("DELETE FROM session WHERE secret_sha256 = ?", (digest,))
        )
