"""Users, roles, API tokens and login sessions (``users.db``)."""
