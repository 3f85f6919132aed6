PRAGMA user_version = 1;

CREATE INDEX session_user ON session (user);

-- index sqlite_autoindex_session_1 on session (made by SQLite)

-- index sqlite_autoindex_token_1 on token (made by SQLite)

-- index sqlite_autoindex_token_2 on token (made by SQLite)

-- index sqlite_autoindex_user_1 on user (made by SQLite)

CREATE UNIQUE INDEX token_owner_name_live ON token (owner, name) WHERE revoked_ms IS NULL;

CREATE TABLE session (
    secret_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);

CREATE TABLE token (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    owner TEXT NOT NULL REFERENCES user (name) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    last_used_ms INTEGER,
    revoked_ms INTEGER
);

CREATE TABLE user (
    name TEXT PRIMARY KEY CHECK (name <> ''),
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
