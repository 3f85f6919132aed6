"""The Authenticator: logins, tokens and sessions checked, and who a request is.

Everything that decides whether someone is let in is here; the store only
keeps rows. A request with a token or session cookie costs a dictionary
lookup: a verified secret (by its sha256) is cached with its
:class:`~opencrate.components.users.records.Principal` for ``cache_ttl``
(30 s), and every change that could withdraw access (revoke, disable, role
or password change, logout) drops the user's cached entries at once, so it
takes effect on the very next request. argon2 runs only on login and
password changes, never per request.

The login error is the same (:class:`~opencrate.errors.AuthError`, 401,
:data:`LOGIN_FAILED`) for an unknown user, a wrong password and a disabled
user, and an unknown user is verified against a dummy hash so that it takes
as long: neither the answer nor its timing tells which user names exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from attrs import frozen

from opencrate.clock import Clock
from opencrate.components.users.passwords import Passwords, check_password_rules
from opencrate.components.users.ratelimit import LoginLimiter
from opencrate.components.users.records import (
    TOKEN_PREFIX,
    Principal,
    Session,
    TokenInfo,
    User,
    secret_digest,
    validate_name,
)
from opencrate.components.users.roles import Role
from opencrate.components.users.settings import UserSettings
from opencrate.components.users.store import UserStore
from opencrate.errors import AuthError, InvalidInput

__all__ = ["ANONYMOUS", "LOGIN_FAILED", "Authenticator", "Login", "NewToken"]

LOGIN_FAILED: Final = "wrong user name or password"
#: The user name of the read-only anonymous viewer (``[users] anonymous_viewer``).
ANONYMOUS: Final = "anonymous"


@frozen(kw_only=True)
class Login:
    """A successful login: the cookie secret (known only to the browser) and its session."""

    secret: str
    session: Session
    user: User


@frozen(kw_only=True)
class NewToken:
    """A token just made: its secret is shown this once and never stored."""

    secret: str
    info: TokenInfo


@frozen(kw_only=True)
class _Cached:
    principal: Principal
    #: Trusted from memory until then; afterwards checked against the store again.
    fresh_until_ms: int
    #: When the token or session itself ends (None: a token without expiry).
    expires_ms: int | None


class Authenticator:
    """Checks passwords, tokens and session cookies; changes users through the store."""

    def __init__(self, store: UserStore, settings: UserSettings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.passwords = Passwords(settings.argon2)
        self.limiter = LoginLimiter(
            clock,
            per_user=settings.login_failures_per_user,
            per_address=settings.login_failures_per_address,
            window_ms=settings.login_window_ms,
        )
        self._cache: dict[str, _Cached] = {}

    # -- users -------------------------------------------------------------------
    async def add_user(self, name: str, role: Role, password: str) -> User:
        """A new user; InvalidInput for a bad name or password, Conflict for a taken name."""
        validate_name(name, what="user name")
        check_password_rules(password, user=name)
        return await self.store.add_user(name, role, await self.passwords.hash(password))

    async def update_user(
        self, name: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        """Change role and/or disabled; takes effect on the user's next request."""
        user = await self.store.update_user(name, role=role, disabled=disabled)
        self._forget(lambda p: p.user == name)
        return user

    async def set_password(self, name: str, password: str, *, keep_session: str | None) -> None:
        """A new password; every session of the user but ``keep_session`` (a digest) ends."""
        check_password_rules(password, user=name)
        encoded = await self.passwords.hash(password)
        await self.store.set_password_hash(name, encoded, end_sessions_except=keep_session or "")
        self._forget(lambda p: p.user == name and p.session != keep_session)

    async def password_matches(self, name: str, password: str, *, address: str) -> bool:
        """Whether ``password`` is ``name``'s current one (for a user changing their own).

        Counted by the login rate limit like a login (RateLimited when at it),
        so a stolen session cannot be used to guess the password behind it.
        """
        self.limiter.attempt(name, address)
        found = await self.store.credentials(name)
        matched = await self.passwords.verify(found.password_hash if found else None, password)
        if matched:
            self.limiter.succeeded(name, address)
        return matched

    # -- logins and sessions -----------------------------------------------------
    async def login(self, name: object, password: object, *, address: str) -> Login:
        """A new session for the right user name and password of an enabled user.

        Raises RateLimited when the name or ``address`` failed too often
        recently (nothing is verified), AuthError (:data:`LOGIN_FAILED`)
        otherwise when the login fails, for whatever reason. A hash made with
        other parameters than the configured ones is replaced.
        """
        if not isinstance(name, str) or not isinstance(password, str):
            raise InvalidInput("login needs a user and a password, both strings", field="user")
        self.limiter.attempt(name, address)
        found = await self.store.credentials(name) if name else None
        matched = await self.passwords.verify(found.password_hash if found else None, password)
        if found is None or not matched or found.user.disabled:
            raise AuthError(LOGIN_FAILED)  # the attempt stays counted as a failure
        self.limiter.succeeded(name, address)
        if self.passwords.needs_rehash(found.password_hash):
            rehashed = await self.passwords.hash(password)
            await self.store.set_password_hash(name, rehashed)
        now = self.clock.now_ms()
        secret = secrets.token_urlsafe(32)
        session = Session(
            digest=secret_digest(secret),
            user=name,
            csrf_token=secrets.token_urlsafe(32),
            created_ms=now,
            expires_ms=now + self.settings.session_lifetime_ms,
        )
        await self.store.add_session(session, idle_timeout_ms=self.settings.session_idle_timeout_ms)
        return Login(secret=secret, session=session, user=found.user)

    async def logout(self, principal: Principal) -> None:
        """End the principal's session (a token principal: nothing to end)."""
        if principal.session is not None:
            await self.store.end_session(principal.session)
            self._cache.pop(principal.session, None)

    async def principal_for_session(self, secret: str) -> Principal | None:
        """Who the session cookie ``secret`` belongs to; None for no (or an ended) session."""
        digest = secret_digest(secret)
        now = self.clock.now_ms()
        cached = self._cached(digest, now)
        if cached is not None:
            return cached
        row = await self.store.session_by_digest(digest)
        if row is None:
            return None
        idle = now - row.last_seen_ms > self.settings.session_idle_timeout_ms
        if row.disabled or idle or now >= row.session.expires_ms:
            await self.store.end_session(digest)
            return None
        await self.store.touch_session(digest)
        principal = Principal(
            user=row.session.user,
            role=row.role,
            session=digest,
            csrf_token=row.session.csrf_token,
        )
        return self._remember(digest, principal, now, row.session.expires_ms)

    # -- tokens ------------------------------------------------------------------
    async def create_token(
        self,
        owner: str,
        name: str,
        *,
        role: Role | None = None,
        expires_ms: int | None = None,
    ) -> NewToken:
        """A new API token of ``owner`` with ``role`` (default: the owner's, never above it).

        InvalidInput for a bad name, a role above the owner's or an expiry not
        in the future; NotFound for no such user; Conflict for a taken name.
        """
        validate_name(name, what="token name")
        user = await self.store.get_user(owner)
        role = role or user.role
        if not user.role.allows(role):
            raise InvalidInput(
                f"a token of {owner!r} can have at most the role {user.role}, not {role}",
                field="role",
            )
        if expires_ms is not None and expires_ms <= self.clock.now_ms():
            raise InvalidInput("token expiry must be in the future", field="expires")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = await self.store.add_token(
            ident=secrets.token_hex(6),
            name=name,
            owner=owner,
            role=role,
            digest=secret_digest(secret),
            expires_ms=expires_ms,
        )
        return NewToken(secret=secret, info=info)

    async def revoke_token(self, ident: str) -> TokenInfo:
        """Revoke it; refused from the next request on. NotFound, or Conflict if revoked."""
        info = await self.store.revoke_token(ident)
        self._forget(lambda p: p.token_id == ident)
        return info

    async def principal_for_token(self, secret: str) -> Principal | None:
        """Who the bearer token ``secret`` acts for; None for an unknown, revoked or expired one."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = secret_digest(secret)
        now = self.clock.now_ms()
        cached = self._cached(digest, now)
        if cached is not None:
            return cached
        row = await self.store.token_by_digest(digest)
        if row is None or row.token.revoked_ms is not None or row.owner_disabled:
            return None
        token = row.token
        if token.expires_ms is not None and now >= token.expires_ms:
            return None
        await self.store.touch_token(token.id)
        # Never more than the owner may do now: a demoted owner demotes their tokens.
        role = token.role if row.owner_role.allows(token.role) else row.owner_role
        principal = Principal(user=token.owner, role=role, token_name=token.name, token_id=token.id)
        return self._remember(digest, principal, now, token.expires_ms)

    # -- anonymous ---------------------------------------------------------------
    def anonymous(self) -> Principal | None:
        """The read-only anonymous viewer when ``[users] anonymous_viewer`` is on, else None."""
        if not self.settings.anonymous_viewer:
            return None
        return Principal(user=ANONYMOUS, role=Role.VIEWER, anonymous=True)

    # -- the cache ---------------------------------------------------------------
    def _cached(self, digest: str, now: int) -> Principal | None:
        entry = self._cache.get(digest)
        if entry is None:
            return None
        if now >= entry.fresh_until_ms or (
            entry.expires_ms is not None and now >= entry.expires_ms
        ):
            del self._cache[digest]
            return None
        return entry.principal

    def _remember(
        self, digest: str, principal: Principal, now: int, expires_ms: int | None
    ) -> Principal:
        if len(self._cache) > 10_000:
            # Stale entries go first; a cache this big is a flood of distinct secrets.
            self._cache = {k: v for k, v in self._cache.items() if v.fresh_until_ms > now}
        self._cache[digest] = _Cached(
            principal=principal,
            fresh_until_ms=now + self.settings.cache_ttl_ms,
            expires_ms=expires_ms,
        )
        return principal

    def _forget(self, matches: Callable[[Principal], bool]) -> None:
        for digest in [d for d, entry in self._cache.items() if matches(entry.principal)]:
            del self._cache[digest]
