-- Certificates from CAs outside Sigil (issue 12): a certificate is issued either by a CA
-- container (`issuer`) or by an external CA, whose name and chain (JSON array of hex DER, the
-- leaf's issuer first) are kept with it. Exactly one of the two.
ALTER TABLE certificates ALTER COLUMN issuer DROP NOT NULL;
ALTER TABLE certificates ADD COLUMN external_issuer TEXT;
ALTER TABLE certificates ADD COLUMN external_chain TEXT;
ALTER TABLE certificates ADD CONSTRAINT certificates_one_issuer
    CHECK ((issuer IS NULL) = (external_chain IS NOT NULL));
ALTER TABLE certificates ADD CONSTRAINT certificates_external_named
    CHECK ((external_issuer IS NULL) = (external_chain IS NULL));
