PRAGMA user_version = 1;

CREATE INDEX node_parent ON node (parent_id);

CREATE INDEX node_ref_target ON node_ref (target_id);

CREATE INDEX node_tag_tag ON node_tag (tag, node_id);

CREATE INDEX protocol_binding_protocol ON protocol_binding (protocol);

-- index sqlite_autoindex_node_1 on node (made by SQLite)

CREATE TABLE node (
    id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    node_type TEXT NOT NULL CHECK (node_type IN ('site', 'space', 'equip', 'point', 'virtual_point')),
    dis TEXT NOT NULL,
    parent_id TEXT REFERENCES node (id),
    unit TEXT,
    kind TEXT CHECK (kind IS NULL OR kind IN ('number', 'bool', 'enum', 'str')),
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    CHECK (parent_id IS NULL OR parent_id <> id)
);

CREATE TABLE node_capability (
    node_id TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    capability TEXT NOT NULL CHECK (capability IN ('readable', 'writable', 'historizable', 'alarmable', 'schedulable')),
    PRIMARY KEY (node_id, capability)
) WITHOUT ROWID;

CREATE TABLE node_property (
    node_id TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    key TEXT NOT NULL CHECK (key <> ''),
    value TEXT NOT NULL CHECK (json_valid(value)),
    PRIMARY KEY (node_id, key)
) WITHOUT ROWID;

CREATE TABLE node_ref (
    node_id TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (name <> ''),
    target_id TEXT NOT NULL,
    PRIMARY KEY (node_id, name)
) WITHOUT ROWID;

CREATE TABLE node_tag (
    node_id TEXT NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    tag TEXT NOT NULL CHECK (tag <> ''),
    PRIMARY KEY (node_id, tag)
) WITHOUT ROWID;

CREATE TABLE protocol_binding (
    node_id TEXT PRIMARY KEY NOT NULL REFERENCES node (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL CHECK (protocol <> ''),
    config TEXT NOT NULL CHECK (json_valid(config))
) WITHOUT ROWID;
