PRAGMA user_version = 1;

CREATE INDEX alarm_history_node ON alarm_history (node_id, id);

-- index sqlite_autoindex_alarm_1 on alarm (made by SQLite)

CREATE TABLE alarm (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id TEXT NOT NULL CHECK (node_id <> ''),
    alarm_type TEXT NOT NULL CHECK (alarm_type <> ''),
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    cleared_ms INTEGER,
    acked_ms INTEGER,
    acked_by TEXT,
    ack_comment TEXT NOT NULL DEFAULT '',
    shelved_until_ms INTEGER,
    shelved_by TEXT,
    stale_ms INTEGER,
    UNIQUE (node_id, alarm_type)
);

CREATE TABLE alarm_history (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL,
    alarm_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    cleared_ms INTEGER NOT NULL,
    acked_ms INTEGER NOT NULL,
    acked_by TEXT NOT NULL,
    ack_comment TEXT NOT NULL,
    shelved_until_ms INTEGER,
    shelved_by TEXT,
    stale_ms INTEGER,
    closed_ms INTEGER NOT NULL
);

CREATE TABLE sqlite_sequence(
    name,
   seq
);
