-- Temporary lockouts (issue 19): when an identity's lock ends by itself, as Unix time in
-- nanoseconds. NULL with locked = 1 is a lock from before this migration, which only an
-- administrator's unlock (or `sigil identity unlock`) clears.
ALTER TABLE identities ADD COLUMN locked_until_ns BIGINT;
