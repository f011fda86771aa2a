//! Authenticode for cabinet (CAB) files: the header parser ([`CabLayout`]), the digest
//! ([`prepare_cab`], [`cab_digest`]), embedding ([`PreparedCab::embed`]) and verification
//! ([`verify_cab_file`]). The layout and what is hashed are described in `layout` and
//! `digest`, and in `docs/authenticode.md`.

mod digest;
mod embed;
mod layout;
mod verify;

pub use digest::{PreparedCab, cab_digest, prepare_cab};
pub use embed::{CabEmbedReport, MAX_CAB_SIGNATURE_LEN, embed_cab_signature};
pub use layout::{CAB_MAGIC, CabLayout, CabSignatureArea, MAX_CAB_LEN};
pub use verify::{CabVerificationReport, verify_cab, verify_cab_file};
