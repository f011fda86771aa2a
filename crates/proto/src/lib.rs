//! # sigil-proto — the Host API codec
//!
//! The Host API is Sigil's application protocol, spoken over mutual TLS by CI clients and by
//! people typing into `openssl s_client`. This crate turns its bytes into typed messages and
//! back. It is sans-I/O: no sockets, no async, no business rules; the server
//! (`sigil-server`), the client (`sigil-client`) and the fuzzer all use it.
//!
//! A message is one ASCII frame, `[` fields `]`; a field is a two-letter [`Tag`], a value and
//! `;`; the first field is `AO` and a four-letter [`Command`]:
//!
//! ```text
//! → [AOECHO;AG1;]
//! ← [AOECHO;ANY;AG1;VS0.1.0;]
//! ```
//!
//! The layers, bottom up:
//!
//! | layer | items |
//! |---|---|
//! | framing | [`FrameDecoder`] (incremental, bounded), [`Frame`], [`FrameError`], [`DecodeError`] |
//! | fields | [`Tag`] table, [`ValueClass`], [`ValueError`], limits (`MAX_*`) |
//! | messages | [`Request`], [`Response`], [`MessageError`], [`EncodeError`] |
//! | codes | [`Command`], [`ErrorCode`], [`HashAlgorithm`], [`SigningFormat`], [`KeyAlgorithm`] ([`WireToken`]), [`RequestState`] |
//!
//! `docs/host-api.md` in the repository is the protocol reference (framing, escaping, limits,
//! every command, tag and error code).
//!
//! ## A server loop
//!
//! ```
//! use sigil_proto::{Direction, ErrorCode, FrameDecoder, Request, Response};
//!
//! let mut decoder = FrameDecoder::new(Direction::Request);
//! let mut out = Vec::new();
//! let mut close = false;
//! // Bytes as read from the TLS stream: two pipelined requests, the second one with an
//! // unknown tag.
//! for item in decoder.feed(b"[AOECHO;AG1;]\n[AOTIME;AG2;XX0;]\n") {
//!     let (response, correlation) = match item {
//!         Ok(frame) => {
//!             let response = match Request::decode(&frame) {
//!                 Ok(Request::Echo) => Response::Echo { version: "0.1.0".into() },
//!                 Ok(other) => Response::failure(
//!                     Some(other.command()),
//!                     ErrorCode::CommandDisabled,
//!                     ErrorCode::CommandDisabled.default_message(),
//!                 ),
//!                 Err(e) => frame.context().failure(e.code(), e.to_string()),
//!             };
//!             (response, frame.correlation())
//!         }
//!         Err(e) => {
//!             // A framing error: answer, then close if the stream is out of step.
//!             close = e.is_fatal();
//!             (e.response(), e.context().correlation.clone())
//!         }
//!     };
//!     response.encode(correlation.as_ref(), &mut out)?;
//! }
//! assert!(!close);
//! assert_eq!(
//!     String::from_utf8(out)?,
//!     "[AOECHO;ANY;AG1;VS0.1.0;]\
//!      [AOTIME;ANN;AG2;ERUNKNOWN_TAG;EMunknown tag XX: see the tag table in docs/host-api.md;]"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod command;
mod decoder;
mod error_code;
mod frame;
mod limits;
mod message;
mod request;
mod response;
mod tag;
mod types;
mod value;
mod writer;

pub use command::Command;
pub use decoder::{FrameDecoder, Frames};
pub use error_code::ErrorCode;
pub use frame::{DecodeError, Direction, ErrorContext, Frame, FrameError};
pub use limits::{
    MAX_DECIMAL_LEN, MAX_DIGEST_HEX_LEN, MAX_FIELDS, MAX_LIST_LEN, MAX_REQUEST_FRAME_LEN,
    MAX_RESPONSE_FRAME_LEN, MAX_SECRET_LEN, MAX_TEXT_LEN, MAX_TOKEN_LEN,
};
pub use message::MessageError;
pub use request::{
    AuthenticodeUpload, Extensions, JarUpload, Login, Metadata, OpenPgpUpload, OpenRelease,
    Request, Upload,
};
pub use response::{
    Failure, MAX_FAILURE_MESSAGE_LEN, OpenPgpKey, Outcome, PolicyInfo, ReleaseStatus,
    RequestStatus, Response,
};
pub use tag::Tag;
pub use types::{
    AuthenticodeSubject, CorrelationId, HashAlgorithm, IdempotencyKey, KeyAlgorithm, Password,
    ReleaseId, RequestId, RequestState, SigningFormat, WireToken,
};
pub use value::{ValueClass, ValueError};
pub use writer::EncodeError;

#[cfg(test)]
mod doc_tests {
    use super::*;

    const HOST_API_MD: &str = include_str!("../../../docs/host-api.md");

    #[test]
    fn reference_documents_every_tag_command_and_error_code() {
        for tag in Tag::KNOWN {
            assert!(
                HOST_API_MD.contains(&format!("| `{tag}` |")),
                "tag {tag} is not in docs/host-api.md"
            );
        }
        for command in Command::KNOWN {
            assert!(
                HOST_API_MD.contains(&format!("### `{command}`")),
                "command {command} is not in docs/host-api.md"
            );
        }
        for code in ErrorCode::KNOWN {
            assert!(
                HOST_API_MD.contains(&format!("| `{code}` |")),
                "error code {code} is not in docs/host-api.md"
            );
        }
        for (name, value) in [
            ("MAX_REQUEST_FRAME_LEN", MAX_REQUEST_FRAME_LEN),
            ("MAX_RESPONSE_FRAME_LEN", MAX_RESPONSE_FRAME_LEN),
            ("MAX_FIELDS", MAX_FIELDS),
            ("MAX_TOKEN_LEN", MAX_TOKEN_LEN),
            ("MAX_LIST_LEN", MAX_LIST_LEN),
            ("MAX_DECIMAL_LEN", MAX_DECIMAL_LEN),
            ("MAX_TEXT_LEN", MAX_TEXT_LEN),
            ("MAX_SECRET_LEN", MAX_SECRET_LEN),
            ("MAX_DIGEST_HEX_LEN", MAX_DIGEST_HEX_LEN),
            ("MAX_FAILURE_MESSAGE_LEN", MAX_FAILURE_MESSAGE_LEN),
        ] {
            assert!(
                HOST_API_MD.contains(&format!("| `{name}` | {value} |")),
                "limit {name} = {value} is not in docs/host-api.md"
            );
        }
    }

    /// Server side of an example line: the response the codec produces for a refused frame.
    fn refusal(wire: &[u8]) -> Vec<u8> {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let mut input = wire;
        let (response, correlation) = match decoder.decode(&mut input) {
            Some(Ok(frame)) => match Request::decode(&frame) {
                Ok(request) => panic!("{request:?} was accepted"),
                Err(e) => (
                    frame.context().failure(e.code(), e.to_string()),
                    frame.correlation(),
                ),
            },
            Some(Err(e)) => (e.response(), e.context().correlation.clone()),
            None => {
                let e = decoder.finish().unwrap_err();
                (e.response(), e.context().correlation.clone())
            }
        };
        let mut out = Vec::new();
        response.encode(correlation.as_ref(), &mut out).unwrap();
        out
    }

    #[test]
    fn reference_examples_decode_and_re_encode_exactly() {
        // After a `C:` line, the command and correlation the answer must echo; after a `C!`
        // line, the exact refusal.
        let mut echo: Option<(Command, Option<CorrelationId>)> = None;
        let mut refused: Option<Vec<u8>> = None;
        let mut checked = 0;
        for line in HOST_API_MD.lines() {
            if let Some(wire) = line.strip_prefix("C: ") {
                let frame = Frame::decode(wire.as_bytes(), Direction::Request).unwrap();
                let request = Request::decode(&frame).unwrap_or_else(|e| panic!("{wire}: {e}"));
                let extensions = Extensions::read(&frame).unwrap();
                let mut out = Vec::new();
                request
                    .encode_with(frame.correlation().as_ref(), &extensions, &mut out)
                    .unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), wire);
                echo = Some((request.command(), frame.correlation()));
            } else if let Some(wire) = line.strip_prefix("C! ") {
                refused = Some(refusal(wire.as_bytes()));
            } else if let Some(wire) = line.strip_prefix("S: ") {
                let frame = Frame::decode(wire.as_bytes(), Direction::Response).unwrap();
                let response = Response::decode(&frame).unwrap_or_else(|e| panic!("{wire}: {e}"));
                let mut out = Vec::new();
                response
                    .encode(frame.correlation().as_ref(), &mut out)
                    .unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), wire);
                if let Some((command, correlation)) = echo.take() {
                    assert_eq!(response.command(), Some(command), "{wire}");
                    assert_eq!(frame.correlation(), correlation, "{wire}");
                }
                if let Some(expected) = refused.take() {
                    assert_eq!(String::from_utf8(expected).unwrap(), wire);
                }
                checked += 1;
            }
        }
        assert!(
            checked >= Command::KNOWN.len() + 4,
            "only {checked} examples found"
        );
    }
}
