PRAGMA user_version = 1;

CREATE INDEX "event_alert_context" ON "event_alert" (context, created_ms);

CREATE INDEX "event_alert_expires" ON "event_alert" (expires_ms);

CREATE INDEX "event_alert_open" ON "event_alert" (open_key) WHERE open_key IS NOT NULL;

CREATE INDEX "event_alert_time" ON "event_alert" (created_ms);

CREATE INDEX "event_general_context" ON "event_general" (context, created_ms);

CREATE INDEX "event_general_expires" ON "event_general" (expires_ms);

CREATE INDEX "event_general_open" ON "event_general" (open_key) WHERE open_key IS NOT NULL;

CREATE INDEX "event_general_time" ON "event_general" (created_ms);

CREATE INDEX "event_info_context" ON "event_info" (context, created_ms);

CREATE INDEX "event_info_expires" ON "event_info" (expires_ms);

CREATE INDEX "event_info_open" ON "event_info" (open_key) WHERE open_key IS NOT NULL;

CREATE INDEX "event_info_time" ON "event_info" (created_ms);

-- index sqlite_autoindex_event_table_1 on event_table (made by SQLite)

-- index sqlite_autoindex_event_table_2 on event_table (made by SQLite)

CREATE TABLE "event_alert" (
    id INTEGER PRIMARY KEY,
    context TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
    permissions TEXT,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    acks TEXT NOT NULL DEFAULT '[]',
    enrichments TEXT NOT NULL DEFAULT '[]',
    format TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    open_key BLOB
);

CREATE TABLE "event_general" (
    id INTEGER PRIMARY KEY,
    context TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
    permissions TEXT,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    acks TEXT NOT NULL DEFAULT '[]',
    enrichments TEXT NOT NULL DEFAULT '[]',
    format TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    open_key BLOB
);

CREATE TABLE "event_info" (
    id INTEGER PRIMARY KEY,
    context TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
    permissions TEXT,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    acks TEXT NOT NULL DEFAULT '[]',
    enrichments TEXT NOT NULL DEFAULT '[]',
    format TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    open_key BLOB
);

CREATE TABLE event_sequence (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_seq INTEGER NOT NULL
);

CREATE TABLE event_table (
    no INTEGER PRIMARY KEY CHECK (no BETWEEN 1 AND 65535),
    kind TEXT NOT NULL CHECK (kind IN ('general', 'info', 'alert', 'change')),
    device TEXT UNIQUE,
    name TEXT NOT NULL UNIQUE,
    CHECK ((kind = 'change') = (device IS NOT NULL))
);
