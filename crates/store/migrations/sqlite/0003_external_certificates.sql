-- Certificates from CAs outside Sigil (issue 12): a certificate is issued either by a CA
-- container (`issuer`) or by an external CA, whose name and chain (JSON array of hex DER, the
-- leaf's issuer first) are kept with it. Exactly one of the two.
--
-- SQLite cannot drop NOT NULL from a column, so the table is rebuilt. `policies` refers to
-- `certificates (serial)`: the foreign-key checks are deferred to the commit, and the rows are
-- back by then (renaming a table would rewrite the reference in `policies`, so the new table is
-- created under the old name instead).
PRAGMA defer_foreign_keys = ON;

CREATE TABLE certificates_0003 AS SELECT * FROM certificates;
DROP TABLE certificates;

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    issuer TEXT REFERENCES cas (name),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    der BLOB NOT NULL,
    not_before_ns INTEGER NOT NULL,
    not_after_ns INTEGER NOT NULL,
    key_id TEXT REFERENCES sealed_keys (id),
    revoked_ns INTEGER,
    revocation_reason TEXT,
    external_issuer TEXT,
    external_chain TEXT,
    CHECK ((issuer IS NULL) = (external_chain IS NOT NULL)),
    CHECK ((external_issuer IS NULL) = (external_chain IS NULL))
);
INSERT INTO certificates (serial, issuer, profile, subject, der, not_before_ns, not_after_ns,
                          key_id, revoked_ns, revocation_reason)
    SELECT serial, issuer, profile, subject, der, not_before_ns, not_after_ns, key_id,
           revoked_ns, revocation_reason
    FROM certificates_0003;
DROP TABLE certificates_0003;
CREATE INDEX certificates_issuer ON certificates (issuer);
