//! One frame: `[` fields `]`, a field being a two-letter tag, a value and `;`.
//!
//! A [`Frame`] is the ordered list of `(tag, raw value)` pairs of one message, checked against
//! the tag table: tags are known (requests) and unique, values have their class's syntax and
//! length. Values stay in their wire form (still percent-encoded or hex) in one buffer; the
//! typed layer ([`Request`](crate::Request), [`Response`](crate::Response)) decodes them.

use std::fmt;

use zeroize::Zeroize as _;

use crate::command::Command;
use crate::error_code::ErrorCode;
use crate::limits::{MAX_FIELDS, MAX_REQUEST_FRAME_LEN, MAX_RESPONSE_FRAME_LEN};
use crate::response::Response;
use crate::tag::Tag;
use crate::types::CorrelationId;
use crate::value::{self, ValueClass, ValueError};

/// Which side's frames are read: it sets the size limit and the treatment of unknown tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server: at most [`MAX_REQUEST_FRAME_LEN`] bytes; an unknown tag is an error.
    Request,
    /// Server → client: at most [`MAX_RESPONSE_FRAME_LEN`] bytes; an unknown tag (from a newer
    /// server) is kept and ignored by [`Response::decode`], so servers can add fields.
    Response,
}

impl Direction {
    /// Largest frame in this direction, `[` and `]` included.
    pub const fn max_frame_len(self) -> usize {
        match self {
            Self::Request => MAX_REQUEST_FRAME_LEN,
            Self::Response => MAX_RESPONSE_FRAME_LEN,
        }
    }
}

/// Why a frame was refused. Each maps to one [`ErrorCode`] ([`FrameError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The input ended inside a frame (`FrameDecoder::finish`).
    #[error(
        "the connection closed in the middle of a frame ({buffered} bytes received): end every frame with a closing bracket"
    )]
    Truncated {
        /// Bytes received since `[`.
        buffered: usize,
    },
    /// The frame is larger than the limit of its direction.
    #[error(
        "the frame is larger than {limit} bytes: send less per frame (limits in docs/host-api.md)"
    )]
    TooLarge {
        /// The limit, brackets included.
        limit: usize,
    },
    /// A byte other than whitespace or `[` between frames.
    #[error(
        "byte 0x{byte:02X} outside a frame: a frame starts with an opening bracket and only whitespace may separate frames"
    )]
    UnexpectedByte {
        /// The offending byte.
        byte: u8,
    },
    /// `[` inside a frame: the previous frame was not closed.
    #[error("opening bracket inside a frame: the previous frame was not closed")]
    Unterminated,
    /// No frame at all where [`Frame::decode`] expects one.
    #[error("the input holds no frame")]
    NoFrame,
    /// More input after the one frame expected by [`Frame::decode`].
    #[error("unexpected data after the frame: send one frame at a time")]
    TrailingData,
    /// The last field of the frame does not end with `;`.
    #[error(
        "field {index} does not end with a semicolon: every field, the last one too, ends with one"
    )]
    UnterminatedField {
        /// Position of the field in the frame, from 0.
        index: usize,
    },
    /// A field does not start with two uppercase letters.
    #[error("field {index} does not start with a two-letter uppercase tag")]
    MalformedTag {
        /// Position of the field in the frame, from 0.
        index: usize,
    },
    /// More than [`MAX_FIELDS`] fields.
    #[error("the frame has more than {limit} fields")]
    TooManyFields {
        /// The limit.
        limit: usize,
    },
    /// A tag this version does not define (requests only).
    #[error("unknown tag {tag}: see the tag table in docs/host-api.md")]
    UnknownTag {
        /// The tag.
        tag: Tag,
    },
    /// A tag that appears twice.
    #[error(
        "tag {tag} appears more than once: a tag may appear once per frame, lists go comma-separated in one value"
    )]
    DuplicateTag {
        /// The tag.
        tag: Tag,
    },
    /// A value that does not match its tag's class.
    #[error("{tag} ({}): {error}", .tag.class().map_or("value", ValueClass::name))]
    Value {
        /// The tag of the field.
        tag: Tag,
        /// What is wrong with the value.
        error: ValueError,
    },
}

impl FrameError {
    /// The stable error code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Truncated { .. } => ErrorCode::TruncatedFrame,
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::UnexpectedByte { .. }
            | Self::Unterminated
            | Self::NoFrame
            | Self::TrailingData => ErrorCode::FrameSyntax,
            Self::UnterminatedField { .. } | Self::MalformedTag { .. } => ErrorCode::MalformedField,
            Self::TooManyFields { .. } => ErrorCode::TooManyFields,
            Self::UnknownTag { .. } => ErrorCode::UnknownTag,
            Self::DuplicateTag { .. } => ErrorCode::DuplicateTag,
            Self::Value { error, .. } => error.code(),
        }
    }

    /// Whether the byte stream can no longer be trusted: the frame boundaries are lost. After
    /// a fatal error the server answers once and closes the connection; after any other error
    /// it answers and reads the next frame.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Truncated { .. }
                | Self::TooLarge { .. }
                | Self::UnexpectedByte { .. }
                | Self::Unterminated
                | Self::NoFrame
                | Self::TrailingData
        )
    }
}

impl ValueError {
    /// The stable error code for a bad value.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::ForbiddenByte { .. } => ErrorCode::MalformedField,
            Self::TooLong { .. } => ErrorCode::ValueTooLong,
            Self::NotHex | Self::OddHexLength => ErrorCode::BadHex,
            Self::BadEscape | Self::NotUtf8 => ErrorCode::BadEscape,
            Self::Empty
            | Self::NotToken { .. }
            | Self::EmptyListItem
            | Self::NotDecimal
            | Self::OutOfRange
            | Self::BadTime
            | Self::BadCommand
            | Self::NotOneOf { .. } => ErrorCode::BadValue,
        }
    }
}

/// The `AO` command and `AG` correlation id of a frame, as far as they could be read: what a
/// failure response echoes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The command of the first field, when it is a well-formed `AO`.
    pub command: Option<Command>,
    /// The first well-formed `AG`.
    pub correlation: Option<CorrelationId>,
}

impl ErrorContext {
    /// A failure response for this context. Encode it with
    /// `response.encode(context.correlation.as_ref(), out)`.
    pub fn failure(&self, code: ErrorCode, message: impl Into<String>) -> Response {
        Response::failure(self.command, code, message)
    }

    /// Finds `AO` (first field only) and `AG` in frame content that may be malformed or
    /// incomplete, looking only at complete fields and at most [`MAX_FIELDS`] of them.
    pub(crate) fn scan(content: &[u8]) -> Self {
        let mut context = Self::default();
        let pieces = content.split_inclusive(|b| *b == b';').take(MAX_FIELDS);
        for (index, piece) in pieces.enumerate() {
            let Some(body) = piece.strip_suffix(b";") else {
                break;
            };
            let Some((tag, value)) = split_tag(body) else {
                continue;
            };
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            if tag == Tag::COMMAND && index == 0 {
                context.command = Command::parse(value).ok();
            } else if tag == Tag::CORRELATION && context.correlation.is_none() {
                context.correlation = CorrelationId::new(value).ok();
            }
        }
        context
    }
}

/// A frame that could not be read, with what could be read of its `AO` and `AG`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct DecodeError {
    error: FrameError,
    context: ErrorContext,
}

impl DecodeError {
    pub(crate) fn new(error: FrameError, context: ErrorContext) -> Self {
        Self { error, context }
    }

    /// What went wrong.
    pub fn error(&self) -> &FrameError {
        &self.error
    }

    /// The command and correlation id to echo.
    pub fn context(&self) -> &ErrorContext {
        &self.context
    }

    /// The stable error code to answer with.
    pub fn code(&self) -> ErrorCode {
        self.error.code()
    }

    /// See [`FrameError::is_fatal`].
    pub fn is_fatal(&self) -> bool {
        self.error.is_fatal()
    }

    /// The failure response to send (encode it with the context's correlation id).
    pub fn response(&self) -> Response {
        self.context.failure(self.code(), self.error.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    tag: Tag,
    start: usize,
    end: usize,
}

/// One frame: an ordered list of `(tag, raw value)` pairs, each tag at most once.
///
/// The raw values are the wire text between the tag and `;`. The buffer is wiped when the
/// frame is dropped (it may hold a password), and `Debug` redacts secret values.
#[derive(Clone, Default)]
pub struct Frame {
    /// Frame content without the brackets: `TAGvalue;TAGvalue;…`, printable ASCII.
    raw: String,
    fields: Vec<Field>,
}

impl Frame {
    /// An empty frame, to be filled with [`push`](Frame::push).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads exactly one complete frame (whitespace around it is allowed) — for tests, tools
    /// and replayed vectors. A connection uses [`FrameDecoder`](crate::FrameDecoder).
    pub fn decode(bytes: &[u8], direction: Direction) -> Result<Frame, DecodeError> {
        let mut decoder = crate::FrameDecoder::new(direction);
        let mut input = bytes;
        let frame = match decoder.decode(&mut input) {
            Some(result) => result?,
            None => {
                decoder.finish()?;
                return Err(DecodeError::new(
                    FrameError::NoFrame,
                    ErrorContext::default(),
                ));
            }
        };
        if input.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(DecodeError::new(FrameError::TrailingData, frame.context()));
        }
        Ok(frame)
    }

    /// Parses frame content (without the brackets). On error the content is wiped.
    pub(crate) fn parse(content: Vec<u8>, direction: Direction) -> Result<Frame, DecodeError> {
        let fields = match parse_fields(&content, direction) {
            Ok(fields) => fields,
            Err(error) => return Err(Self::refuse(content, error)),
        };
        // Every byte was checked (tags, values, ';'), so this is printable ASCII; the error arm
        // is unreachable but handled rather than unwrapped.
        match String::from_utf8(content) {
            Ok(raw) => Ok(Frame { raw, fields }),
            Err(e) => Err(Self::refuse(
                e.into_bytes(),
                FrameError::MalformedTag { index: 0 },
            )),
        }
    }

    fn refuse(mut content: Vec<u8>, error: FrameError) -> DecodeError {
        let context = ErrorContext::scan(&content);
        content.zeroize();
        DecodeError::new(error, context)
    }

    /// Appends a field with a raw (wire-form) value, checked like the decoder checks it:
    /// class syntax and length for a known tag, frame bytes only for an unknown one.
    pub fn push(&mut self, tag: Tag, raw_value: &str) -> Result<(), FrameError> {
        if self.fields.len() >= MAX_FIELDS {
            return Err(FrameError::TooManyFields { limit: MAX_FIELDS });
        }
        if self.fields.iter().any(|f| f.tag == tag) {
            return Err(FrameError::DuplicateTag { tag });
        }
        match tag.class() {
            Some(class) => value::validate(class, raw_value.as_bytes()),
            None => value::check_frame_bytes(raw_value.as_bytes()),
        }
        .map_err(|error| FrameError::Value { tag, error })?;
        self.raw.extend(tag.as_bytes().map(char::from));
        let start = self.raw.len();
        self.raw.push_str(raw_value);
        let end = self.raw.len();
        self.raw.push(';');
        self.fields.push(Field { tag, start, end });
        Ok(())
    }

    /// Appends the frame in wire form, `[` and `]` included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.raw.len() + 2);
        out.push(b'[');
        out.extend_from_slice(self.raw.as_bytes());
        out.push(b']');
    }

    /// Length of the frame in wire form, `[` and `]` included.
    pub fn wire_len(&self) -> usize {
        self.raw.len() + 2
    }

    /// The fields in order, with their raw values.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (Tag, &str)> + '_ {
        self.fields
            .iter()
            .map(|f| (f.tag, self.raw.get(f.start..f.end).unwrap_or_default()))
    }

    /// The raw value of a tag.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.fields().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the frame has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The command, when the first field is a well-formed `AO`.
    pub fn command(&self) -> Option<Command> {
        let (tag, value) = self.fields().next()?;
        (tag == Tag::COMMAND).then(|| Command::parse(value).ok())?
    }

    /// The correlation id, when `AG` is present and well-formed.
    pub fn correlation(&self) -> Option<CorrelationId> {
        CorrelationId::new(self.get(Tag::CORRELATION)?).ok()
    }

    /// What a failure response to this frame echoes.
    pub fn context(&self) -> ErrorContext {
        ErrorContext {
            command: self.command(),
            correlation: self.correlation(),
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.raw.zeroize();
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        // The content determines the fields.
        self.raw == other.raw
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (tag, value) in self.fields() {
            if tag.class() == Some(ValueClass::Secret) {
                list.entry(&format_args!("{tag}=<redacted>"));
            } else {
                list.entry(&format_args!("{tag}={value}"));
            }
        }
        list.finish()
    }
}

/// Splits a field body into its tag and value.
fn split_tag(body: &[u8]) -> Option<(Tag, &[u8])> {
    let (tag, value) = body.split_first_chunk::<2>()?;
    Some((Tag::from_bytes(*tag)?, value))
}

/// Set of tags seen in a frame: one bit per possible tag.
#[derive(Default)]
struct TagSet([u64; 11]);

impl TagSet {
    /// Adds a tag; false if it was already there.
    fn insert(&mut self, tag: Tag) -> bool {
        let index = tag.index();
        let Some(word) = self.0.get_mut(index / 64) else {
            return false;
        };
        let bit = 1u64 << (index % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }
}

/// Splits and checks the fields of frame content.
fn parse_fields(content: &[u8], direction: Direction) -> Result<Vec<Field>, FrameError> {
    let separators = content.iter().filter(|b| **b == b';').count();
    let mut fields = Vec::with_capacity(separators.min(MAX_FIELDS));
    let mut seen = TagSet::default();
    let mut offset = 0;
    for piece in content.split_inclusive(|b| *b == b';') {
        let index = fields.len();
        let body = piece
            .strip_suffix(b";")
            .ok_or(FrameError::UnterminatedField { index })?;
        if index == MAX_FIELDS {
            return Err(FrameError::TooManyFields { limit: MAX_FIELDS });
        }
        let (tag, value) = split_tag(body).ok_or(FrameError::MalformedTag { index })?;
        let checked = match (tag.class(), direction) {
            (Some(class), _) => value::validate(class, value),
            (None, Direction::Response) => value::check_frame_bytes(value),
            (None, Direction::Request) => return Err(FrameError::UnknownTag { tag }),
        };
        checked.map_err(|error| FrameError::Value { tag, error })?;
        if !seen.insert(tag) {
            return Err(FrameError::DuplicateTag { tag });
        }
        fields.push(Field {
            tag,
            start: offset + 2,
            end: offset + body.len(),
        });
        offset += piece.len();
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(content: &str) -> Result<Frame, DecodeError> {
        Frame::parse(content.as_bytes().to_vec(), Direction::Request)
    }

    #[test]
    fn fields_in_order() {
        let frame = parse("AORAUO;AG7;PArel%20ease;DGabcd;").unwrap();
        let fields: Vec<_> = frame.fields().collect();
        assert_eq!(
            fields,
            vec![
                (Tag::COMMAND, "RAUO"),
                (Tag::CORRELATION, "7"),
                (Tag::POLICY, "rel%20ease"),
                (Tag::DIGEST, "abcd"),
            ]
        );
        assert_eq!(frame.command(), Some(Command::UploadHash));
        assert_eq!(frame.correlation().unwrap().as_str(), "7");
        let mut out = Vec::new();
        frame.encode(&mut out);
        assert_eq!(out, b"[AORAUO;AG7;PArel%20ease;DGabcd;]");
        assert_eq!(frame.wire_len(), out.len());
    }

    #[test]
    fn empty_frame_and_empty_values() {
        let frame = parse("").unwrap();
        assert!(frame.is_empty());
        assert_eq!(frame.command(), None);
        let frame = parse("AOECHO;DS;").unwrap();
        assert_eq!(frame.get(Tag::DESCRIPTION), Some(""));
    }

    #[test]
    fn field_errors_carry_the_context() {
        let err = parse("AOECHO;DGxyz;AG9;").unwrap_err();
        assert_eq!(
            err.error(),
            &FrameError::Value {
                tag: Tag::DIGEST,
                error: ValueError::NotHex
            }
        );
        assert_eq!(err.code(), ErrorCode::BadHex);
        assert!(!err.is_fatal());
        assert_eq!(err.context().command, Some(Command::Echo));
        assert_eq!(err.context().correlation.as_ref().unwrap().as_str(), "9");
    }

    #[test]
    fn structural_errors() {
        let cases = [
            ("AOECHO;AG1", FrameError::UnterminatedField { index: 1 }),
            ("AOECHO;a1;", FrameError::MalformedTag { index: 1 }),
            ("A;", FrameError::MalformedTag { index: 0 }),
            (
                "AOECHO;ZZ1;",
                FrameError::UnknownTag {
                    tag: Tag::from_bytes(*b"ZZ").unwrap(),
                },
            ),
            (
                "AOECHO;AG1;AG2;",
                FrameError::DuplicateTag {
                    tag: Tag::CORRELATION,
                },
            ),
        ];
        for (content, expected) in cases {
            assert_eq!(parse(content).unwrap_err().error(), &expected, "{content}");
        }
        let many: String = (b'A'..=b'Z')
            .flat_map(|a| (b'A'..=b'Z').map(move |b| Tag::from_bytes([a, b]).unwrap()))
            .filter(|t| !t.is_known())
            .take(MAX_FIELDS + 1)
            .map(|t| format!("{t}x;"))
            .collect();
        assert_eq!(
            Frame::parse(many.into_bytes(), Direction::Response)
                .unwrap_err()
                .error(),
            &FrameError::TooManyFields { limit: MAX_FIELDS }
        );
    }

    #[test]
    fn unknown_tags_are_kept_in_responses() {
        let frame = Frame::parse(b"AOECHO;ANY;QQnew value;".to_vec(), Direction::Response).unwrap();
        assert_eq!(
            frame.get(Tag::from_bytes(*b"QQ").unwrap()),
            Some("new value")
        );
    }

    #[test]
    fn scan_takes_command_only_from_the_first_field() {
        let context = ErrorContext::scan(b"AG5;AOECHO;");
        assert_eq!(context.command, None);
        assert_eq!(context.correlation.unwrap().as_str(), "5");
        let context = ErrorContext::scan(b"AOTIME;AG12");
        assert_eq!(context.command, Some(Command::Time));
        assert_eq!(
            context.correlation, None,
            "an unterminated AG may be cut short"
        );
    }

    #[test]
    fn push_checks_like_the_decoder() {
        let mut frame = Frame::new();
        frame.push(Tag::COMMAND, "ECHO").unwrap();
        frame.push(Tag::PASSWORD, "s3cret").unwrap();
        assert_eq!(
            frame.push(Tag::COMMAND, "TIME"),
            Err(FrameError::DuplicateTag { tag: Tag::COMMAND })
        );
        assert!(frame.push(Tag::DIGEST, "0").is_err());
        assert_eq!(format!("{frame:?}"), "[AO=ECHO, PW=<redacted>]");
        assert_eq!(parse("AOECHO;PWs3cret;").unwrap(), frame);
    }
}
