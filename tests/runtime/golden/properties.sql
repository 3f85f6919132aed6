PRAGMA user_version = 1;

CREATE TABLE property (
    context TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('json', 'bytes', 'blob')),
    data TEXT CHECK (data IS NULL OR json_valid(data)),
    inline BLOB,
    size INTEGER,
    sha256 TEXT,
    chunks INTEGER,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (context, name)
) WITHOUT ROWID;

CREATE TABLE property_block (
    context TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (context, name, seq),
    FOREIGN KEY (context, name) REFERENCES property (context, name) ON DELETE CASCADE
) WITHOUT ROWID;
