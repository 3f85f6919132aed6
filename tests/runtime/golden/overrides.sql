PRAGMA user_version = 1;

CREATE INDEX override_expires ON override (expires_ms) WHERE expires_ms IS NOT NULL;

CREATE INDEX override_history_node ON override_history (node_id, id);

-- index sqlite_autoindex_override_1 on override (made by SQLite)

CREATE TABLE override (
    node_id TEXT PRIMARY KEY CHECK (node_id <> ''),
    value TEXT NOT NULL CHECK (json_valid(value)),
    user TEXT NOT NULL CHECK (user <> ''),
    reason TEXT NOT NULL DEFAULT '',
    set_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    previous_value TEXT CHECK (previous_value IS NULL OR json_valid(previous_value)),
    previous_status TEXT,
    previous_ts_ms INTEGER
);

CREATE TABLE override_history (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL,
    value TEXT NOT NULL,
    user TEXT NOT NULL,
    reason TEXT NOT NULL,
    set_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    ended_ms INTEGER NOT NULL,
    ended_by TEXT NOT NULL,
    end_reason TEXT NOT NULL CHECK (end_reason IN ('released', 'expired', 'replaced'))
);
