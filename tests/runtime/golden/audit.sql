PRAGMA user_version = 1;

CREATE INDEX audit_entry_action_id ON audit_entry (action, id);

CREATE INDEX audit_entry_user_id ON audit_entry (user, id);

CREATE TABLE audit_entry (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    user TEXT NOT NULL CHECK (user <> ''),
    action TEXT NOT NULL CHECK (action <> ''),
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
);

CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
