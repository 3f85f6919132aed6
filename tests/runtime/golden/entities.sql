PRAGMA user_version = 1;

CREATE INDEX entity_type_id ON entity (entity_type, id);

-- index sqlite_autoindex_entity_1 on entity (made by SQLite)

-- index sqlite_autoindex_meta_1 on meta (made by SQLite)

CREATE TABLE entity (
    id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    entity_type TEXT NOT NULL CHECK (entity_type <> ''),
    data TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL CHECK (json_valid(value))
);
