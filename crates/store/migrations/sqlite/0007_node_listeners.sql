-- Listener chains of one node (issue 16): a node joined with `sigil init --join --hostname`
-- gets its own certificate for its names (plus the balancer's), keyed by the node id in its
-- sigil.toml. Its key is sealed in `sealed_keys` like every other key, so the node's data
-- directory holds no key and a backup covers it. A node without a row here serves the
-- deployment's chain (`listener_chains`).
CREATE TABLE node_listener_chains (
    node_id TEXT NOT NULL,
    interface TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES sealed_keys (id),
    chain TEXT NOT NULL,
    PRIMARY KEY (node_id, interface)
);
