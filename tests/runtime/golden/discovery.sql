PRAGMA user_version = 4;

-- index sqlite_autoindex_discovered_device_1 on discovered_device (made by SQLite)

-- index sqlite_autoindex_discovered_point_1 on discovered_point (made by SQLite)

CREATE TABLE discovered_device (
    device_key TEXT PRIMARY KEY,
    protocol TEXT NOT NULL,
    device_instance INTEGER,
    address TEXT NOT NULL,
    vendor_id INTEGER,
    vendor_name TEXT,
    model_name TEXT,
    device_name TEXT,
    max_apdu INTEGER,
    segmentation TEXT,
    state TEXT NOT NULL CHECK (state IN ('discovered', 'accepted', 'ignored')),
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    object_count INTEGER,
    accepted_ms INTEGER,
    node_ids TEXT,
    network_id TEXT NOT NULL DEFAULT 'ip-main',
    object_list_stale INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE discovered_point (
    device_key TEXT NOT NULL REFERENCES discovered_device ON DELETE CASCADE,
    object_type TEXT NOT NULL,
    object_instance INTEGER NOT NULL,
    object_name TEXT,
    description TEXT,
    units TEXT,
    present_value TEXT,
    writable INTEGER,
    cov INTEGER,
    PRIMARY KEY (device_key, object_type, object_instance)
);
