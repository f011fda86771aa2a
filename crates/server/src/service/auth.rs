//! Logging identities in on a session (both interfaces): the login decision, lockout, audit.
