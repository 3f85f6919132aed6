"""The three roles, in order: each one may do everything the one before it may."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """What a user (or a token) is allowed to do.

    - ``viewer``: read the building, its history, alarms and events;
    - ``operator``: also acknowledge and shelve alarms, override and write
      points, run reports;
    - ``admin``: also change the model and the configuration, manage users,
      purge and delete.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether a principal with this role may call a route that needs ``needed``."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, raw: str) -> Role:
        from opencrate.errors import InvalidInput

        try:
            return cls(raw)
        except ValueError:
            raise InvalidInput(
                f"role must be one of {', '.join(r.value for r in cls)}, got {raw[:40]!r}",
                field="role",
            ) from None


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
