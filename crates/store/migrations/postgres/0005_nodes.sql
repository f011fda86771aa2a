-- Several nodes on one database (issue 16).

-- HTTPS sessions, shared by every node: an approver logged in through one node acts through
-- another, and a logout (a deleted row) ends the session everywhere at once. `token_hash` is
-- the SHA-256 of the bearer token (the token itself is never stored); `body` is the JSON of
-- `sigil_domain::SessionRecord` (interface, identities in login order, API keys used), so
-- a dual-control login in progress is kept too. Rows idle past the timeout are deleted when
-- sessions are created.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    last_used_ns BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX sessions_last_used ON sessions (last_used_ns);

-- The deployment this database belongs to: written once by `sigil init`, copied into each
-- node's sigil.toml, and compared at every start, so a node never joins a foreign database.
CREATE TABLE deployment (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    deployment_id TEXT NOT NULL
);
