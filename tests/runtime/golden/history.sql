PRAGMA user_version = 2;

-- index sqlite_autoindex_point_1 on point (made by SQLite)

CREATE TABLE point (
    key INTEGER PRIMARY KEY,
    point_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL
);

CREATE TABLE raw_floor (
    point_key INTEGER PRIMARY KEY,
    before_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
    point_key INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    num_count INTEGER NOT NULL,
    sum REAL,
    min,
    min_ts INTEGER,
    max,
    max_ts INTEGER,
    first,
    first_ts INTEGER NOT NULL,
    last,
    last_ts INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    integral REAL NOT NULL,
    integral_sq REAL NOT NULL,
    weight_ms INTEGER NOT NULL,
    close,
    PRIMARY KEY (point_key, start_ms)
) WITHOUT ROWID;

CREATE TABLE rollup_5m (
    point_key INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    num_count INTEGER NOT NULL,
    sum REAL,
    min,
    min_ts INTEGER,
    max,
    max_ts INTEGER,
    first,
    first_ts INTEGER NOT NULL,
    last,
    last_ts INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    integral REAL NOT NULL,
    integral_sq REAL NOT NULL,
    weight_ms INTEGER NOT NULL,
    close,
    PRIMARY KEY (point_key, start_ms)
) WITHOUT ROWID;

CREATE TABLE sample (
    point_key INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    value,
    PRIMARY KEY (point_key, ts_ms)
) WITHOUT ROWID;
