-- Sigil schema, version 1 (SQLite). Timestamps are Unix nanoseconds (INTEGER); records whose
-- inner structure is never queried are stored as JSON in a `body` column next to the columns
-- that are indexed, constrained or filtered on.

CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE identities (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    locked INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL,
    password_hash TEXT,
    require_client_certificate INTEGER NOT NULL
);

CREATE TABLE identity_roles (
    identity TEXT NOT NULL REFERENCES identities (name) ON DELETE CASCADE,
    role TEXT NOT NULL REFERENCES roles (name),
    PRIMARY KEY (identity, role)
);
CREATE INDEX identity_roles_role ON identity_roles (role);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL REFERENCES identities (name) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    label TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE INDEX api_keys_identity ON api_keys (identity);

CREATE TABLE approval_groups (
    name TEXT PRIMARY KEY
);

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES approval_groups (name) ON DELETE CASCADE,
    identity TEXT NOT NULL REFERENCES identities (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, identity)
);
CREATE INDEX group_members_identity ON group_members (identity);

CREATE TABLE sealed_keys (
    id TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    purpose TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sealed BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);

CREATE TABLE cas (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES sealed_keys (id),
    certificate BLOB NOT NULL,
    parent TEXT REFERENCES cas (name),
    next_serial INTEGER NOT NULL,
    next_crl_number INTEGER NOT NULL
);

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    issuer TEXT NOT NULL REFERENCES cas (name),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    der BLOB NOT NULL,
    not_before_ns INTEGER NOT NULL,
    not_after_ns INTEGER NOT NULL,
    key_id TEXT REFERENCES sealed_keys (id),
    revoked_ns INTEGER,
    revocation_reason TEXT
);
CREATE INDEX certificates_issuer ON certificates (issuer);

CREATE TABLE policies (
    alias TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES sealed_keys (id),
    certificate TEXT NOT NULL REFERENCES certificates (serial),
    approval_group TEXT REFERENCES approval_groups (name),
    body TEXT NOT NULL
);

CREATE TABLE signing_requests (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL REFERENCES policies (alias),
    requester TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX signing_requests_state ON signing_requests (state, created_ns);
CREATE INDEX signing_requests_requester ON signing_requests (requester, created_ns);
CREATE INDEX signing_requests_policy ON signing_requests (policy, created_ns);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE enabled_commands (
    code TEXT PRIMARY KEY
);

CREATE TABLE listener_chains (
    interface TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES sealed_keys (id),
    chain TEXT NOT NULL
);

CREATE TABLE custody (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);

CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    identity TEXT,
    source TEXT,
    interface TEXT,
    action TEXT NOT NULL,
    object TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);

-- The chain head: written in the same transaction as every event, so that deleting the last
-- events is detected.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
