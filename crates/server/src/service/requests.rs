//! Signing requests: upload, read, approve, deny, and producing the signature.
