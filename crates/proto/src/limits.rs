//! Hard limits of the Host API codec.
//!
//! Every length and count the decoder accepts is bounded by one of these constants, and the
//! decoder never allocates more than [`MAX_REQUEST_FRAME_LEN`] (requests) or
//! [`MAX_RESPONSE_FRAME_LEN`] (responses) bytes per connection for a frame, whatever the peer
//! sends. The encoder checks the same limits, so it never produces a frame the other side
//! would refuse. `docs/host-api.md` ("Limits") lists them for client authors.

/// Largest request frame, `[` and `]` included. Requests carry a digest and some metadata:
/// 64 KiB is plenty.
pub const MAX_REQUEST_FRAME_LEN: usize = 64 * 1024;

/// Largest response frame, `[` and `]` included. Responses carry certificate chains and PKCS#7
/// blocks as hex (twice their DER size).
pub const MAX_RESPONSE_FRAME_LEN: usize = 1024 * 1024;

/// Most fields in one frame. The tag table has fewer tags than this and no tag may repeat.
pub const MAX_FIELDS: usize = 64;

/// Longest token value (command and error codes, enumerations, identifiers, times, versions).
pub const MAX_TOKEN_LEN: usize = 64;

/// Longest comma-separated list value (as sent, escapes included).
pub const MAX_LIST_LEN: usize = 16 * 1024;

/// Longest decimal value: `u64::MAX` has 20 digits.
pub const MAX_DECIMAL_LEN: usize = 20;

/// Longest free-text value (file names, URLs, descriptions, messages) as sent, escapes included.
pub const MAX_TEXT_LEN: usize = 8 * 1024;

/// Longest secret value (password) as sent, escapes included.
pub const MAX_SECRET_LEN: usize = 1024;

/// Longest digest value in hex digits: 128 bytes, twice the longest digest Sigil supports
/// (the server checks the exact length for the hash algorithm).
pub const MAX_DIGEST_HEX_LEN: usize = 256;
