-- Key records name the backend that holds the private half (issue 12).
-- 'software': the key is sealed under the master key, in `sealed`.
-- any other value: the configured name of a PKCS#11 HSM; the key never leaves the token and
-- the record keeps only the object's CKA_ID and CKA_LABEL, with an empty `sealed`.
-- (SQLite cannot relax `sealed NOT NULL` without rebuilding a referenced table, so HSM rows
-- store an empty blob there; the store's row conversion enforces the pairing.)
ALTER TABLE sealed_keys ADD COLUMN backend TEXT NOT NULL DEFAULT 'software';
ALTER TABLE sealed_keys ADD COLUMN hsm_object_id BYTEA;
ALTER TABLE sealed_keys ADD COLUMN hsm_label TEXT;
