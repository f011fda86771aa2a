-- Releases (issue 14): several signing requests under one policy decided by one approval.
-- The body is the JSON of `sigil_domain::Release`; `state` is its request-state name
-- (`pending` while it is still receiving files), indexed for list filters like requests.
CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL REFERENCES policies (alias),
    requester TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX releases_state ON releases (state, created_ns);
CREATE INDEX releases_requester ON releases (requester, created_ns);
CREATE INDEX releases_policy ON releases (policy, created_ns);

-- The release a request belongs to (NULL for a request on its own), and its position in it.
ALTER TABLE signing_requests ADD COLUMN release_id TEXT REFERENCES releases (id);
ALTER TABLE signing_requests ADD COLUMN release_index INTEGER;
CREATE INDEX signing_requests_release ON signing_requests (release_id, release_index);

-- The new Host API commands RAUR and RAGR are enabled by `sigil init` on a new deployment; an
-- existing one enables them like any command (docs/host-api.md), not behind its back here.
