//! The incremental, bounded frame decoder.
//!
//! Bytes go in as they arrive (one TLS record at a time, say); complete frames come out. The
//! decoder keeps only the part of the current frame received so far, never more than the
//! frame limit of its [`Direction`], whatever the peer sends.
//!
//! Error recovery, chosen so a server never has to guess:
//!
//! - an error **inside a complete frame** (bad field, unknown tag, bad value…) leaves the
//!   stream in step: the decoder returns the error and goes on with the next frame, and the
//!   server answers the error and keeps the connection;
//! - a **framing** error (bytes outside a frame, `[` inside a frame, a frame over the limit,
//!   end of input inside a frame) means the frame boundaries are lost: the error is
//!   [fatal](crate::FrameError::is_fatal), the decoder closes and ignores all further input,
//!   and the server answers once and closes the connection. Skipping to the next `[` was
//!   rejected: after an oversized or unterminated frame the next `[` may be in the middle of
//!   the peer's data, and a resynchronised stream would answer requests the client no longer
//!   expects to be read.

use crate::frame::{DecodeError, Direction, ErrorContext, Frame, FrameError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: whitespace is skipped, `[` starts a frame.
    Idle,
    /// Inside a frame: bytes are buffered until `]`.
    InFrame,
    /// After a fatal error: all input is discarded.
    Closed,
}

/// Incremental Host API frame decoder (sans-I/O).
///
/// ```
/// use sigil_proto::{Direction, FrameDecoder};
///
/// let mut decoder = FrameDecoder::new(Direction::Request);
/// // A frame split across two reads, then a second frame and a newline.
/// assert_eq!(decoder.feed(b"[AOEC").count(), 0);
/// let frames: Vec<_> = decoder.feed(b"HO;AG1;]\n[AOTIME;]\n").collect::<Result<_, _>>()?;
/// assert_eq!(frames.len(), 2);
/// decoder.finish()?; // the peer closed between frames
/// # Ok::<(), sigil_proto::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    direction: Direction,
    /// `direction.max_frame_len()`; a field so tests can exercise the limit with small inputs.
    max_frame_len: usize,
    state: State,
    /// Content of the current frame (after `[`), at most `max_content` bytes and capacity.
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for frames sent in `direction` (a server reads [`Direction::Request`]).
    pub fn new(direction: Direction) -> Self {
        Self {
            direction,
            max_frame_len: direction.max_frame_len(),
            state: State::Idle,
            buf: Vec::new(),
        }
    }

    /// The largest frame content, brackets excluded.
    fn max_content(&self) -> usize {
        self.max_frame_len.saturating_sub(2)
    }

    /// Reads from `input` until one frame is complete or the input is used up, and advances
    /// `input` past what was read. Returns `None` when the input ran out first (a partial
    /// frame is kept for the next call) or the decoder is closed.
    pub fn decode(&mut self, input: &mut &[u8]) -> Option<Result<Frame, DecodeError>> {
        loop {
            match self.state {
                State::Closed => {
                    *input = &[];
                    return None;
                }
                State::Idle => {
                    let (&byte, rest) = input.split_first()?;
                    *input = rest;
                    match byte {
                        b' ' | b'\t' | b'\r' | b'\n' => {}
                        b'[' => self.state = State::InFrame,
                        _ => {
                            return Some(Err(self.fail(
                                FrameError::UnexpectedByte { byte },
                                ErrorContext::default(),
                            )));
                        }
                    }
                }
                State::InFrame => return self.read_frame(input),
            }
        }
    }

    /// Iterates over the frames completed by `input`. Stops after a fatal error (the decoder
    /// is closed then). Dropping the iterator early drops the rest of `input`: call
    /// [`decode`](Self::decode) to keep it.
    pub fn feed<'d, 'i>(&'d mut self, input: &'i [u8]) -> Frames<'d, 'i> {
        Frames {
            decoder: self,
            input,
        }
    }

    /// Call when the peer closed the connection: an error if it did so inside a frame.
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        match self.state {
            State::InFrame => {
                let buffered = self.buf.len();
                let context = ErrorContext::scan(&self.buf);
                Err(self.fail(FrameError::Truncated { buffered }, context))
            }
            State::Idle | State::Closed => Ok(()),
        }
    }

    /// Whether a fatal error closed the decoder.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether a frame has begun (its `[` was read) and is not complete yet.
    pub fn in_frame(&self) -> bool {
        self.state == State::InFrame
    }

    /// Bytes of a partial frame held since its `[`.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn read_frame(&mut self, input: &mut &[u8]) -> Option<Result<Frame, DecodeError>> {
        let end = input.iter().position(|b| matches!(b, b'[' | b']'));
        let (chunk, delimiter, rest) = match end {
            Some(at) => {
                let (chunk, tail) = input.split_at_checked(at)?;
                let (delimiter, rest) = tail.split_first()?;
                (chunk, Some(*delimiter), rest)
            }
            None => (*input, None, &[][..]),
        };
        *input = rest;
        let room = self.max_content().saturating_sub(self.buf.len());
        if chunk.len() > room {
            // Keep what fits: it may hold the AO and AG fields the failure response echoes.
            self.push_bounded(chunk.get(..room).unwrap_or_default());
            let context = ErrorContext::scan(&self.buf);
            let limit = self.max_frame_len;
            return Some(Err(self.fail(FrameError::TooLarge { limit }, context)));
        }
        self.push_bounded(chunk);
        match delimiter? {
            b']' => {
                self.state = State::Idle;
                Some(Frame::parse(std::mem::take(&mut self.buf), self.direction))
            }
            _ => {
                let context = ErrorContext::scan(&self.buf);
                Some(Err(self.fail(FrameError::Unterminated, context)))
            }
        }
    }

    /// Appends to the frame buffer, growing it at most to the content limit (amortised
    /// doubling, but never past the limit).
    fn push_bounded(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let target = needed
                .max(self.buf.capacity().saturating_mul(2))
                .max(256)
                .min(self.max_content());
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Closes the decoder after a fatal error and wipes what it held.
    fn fail(&mut self, error: FrameError, context: ErrorContext) -> DecodeError {
        self.state = State::Closed;
        self.wipe();
        self.buf = Vec::new();
        DecodeError::new(error, context)
    }

    fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        // A partial frame may hold a password.
        self.wipe();
    }
}

/// Iterator over the frames completed by one chunk of input; see [`FrameDecoder::feed`].
#[derive(Debug)]
pub struct Frames<'d, 'i> {
    decoder: &'d mut FrameDecoder,
    input: &'i [u8],
}

impl Iterator for Frames<'_, '_> {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.decode(&mut self.input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;
    use crate::limits::MAX_REQUEST_FRAME_LEN;
    use crate::tag::Tag;
    use proptest::prelude::*;

    fn all(decoder: &mut FrameDecoder, input: &[u8]) -> Vec<Result<Frame, DecodeError>> {
        decoder.feed(input).collect()
    }

    #[test]
    fn in_frame_from_the_bracket_until_the_frame_ends() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        assert!(!decoder.in_frame());
        assert_eq!(decoder.feed(b" \n").count(), 0);
        assert!(!decoder.in_frame());
        assert_eq!(decoder.feed(b"[").count(), 0);
        assert!(decoder.in_frame());
        assert_eq!(decoder.feed(b"AOECHO;]").count(), 1);
        assert!(!decoder.in_frame());
    }

    #[test]
    fn whitespace_between_frames_is_skipped() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let frames = all(&mut decoder, b"\r\n [AOECHO;]\t\n[AOTIME;AG2;]\n");
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(Result::is_ok));
        assert!(decoder.finish().is_ok());
    }

    #[test]
    fn garbage_outside_a_frame_is_fatal() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let frames = all(&mut decoder, b"[AOECHO;]x[AOTIME;]");
        assert_eq!(frames.len(), 2);
        let err = frames[1].as_ref().unwrap_err();
        assert_eq!(err.error(), &FrameError::UnexpectedByte { byte: b'x' });
        assert_eq!(err.code(), ErrorCode::FrameSyntax);
        assert!(decoder.is_closed());
        assert_eq!(
            all(&mut decoder, b"[AOECHO;]").len(),
            0,
            "closed: input is discarded"
        );
        assert!(decoder.finish().is_ok());
    }

    #[test]
    fn open_bracket_inside_a_frame_is_fatal_and_keeps_context() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let frames = all(&mut decoder, b"[AORAGA;AG4;PAx;\n[AOECHO;]");
        let err = frames[0].as_ref().unwrap_err();
        assert_eq!(err.error(), &FrameError::Unterminated);
        assert_eq!(err.context().command, Some(crate::Command::GetPolicy));
        assert_eq!(err.context().correlation.as_ref().unwrap().as_str(), "4");
    }

    #[test]
    fn field_errors_are_not_fatal() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let frames = all(&mut decoder, b"[AOECHO;XX1;][AOECHO;AG2;]");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].as_ref().unwrap_err().code(),
            ErrorCode::UnknownTag
        );
        assert_eq!(frames[1].as_ref().unwrap().get(Tag::CORRELATION), Some("2"));
        assert!(!decoder.is_closed());
    }

    #[test]
    fn truncated_frame_is_reported_by_finish() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        assert!(all(&mut decoder, b"[AOECHO;AG3;DSabc").is_empty());
        assert_eq!(decoder.buffered(), 16);
        let err = decoder.finish().unwrap_err();
        assert_eq!(err.error(), &FrameError::Truncated { buffered: 16 });
        assert_eq!(err.context().correlation.as_ref().unwrap().as_str(), "3");
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn oversized_frame_is_fatal_without_waiting_for_the_end() {
        let mut decoder = FrameDecoder::new(Direction::Request);
        let mut input = b"[AOECHO;AG8;DS".to_vec();
        input.resize(MAX_REQUEST_FRAME_LEN + 10, b'a');
        let frames = all(&mut decoder, &input);
        let err = frames[0].as_ref().unwrap_err();
        assert_eq!(
            err.error(),
            &FrameError::TooLarge {
                limit: MAX_REQUEST_FRAME_LEN
            }
        );
        assert_eq!(err.context().correlation.as_ref().unwrap().as_str(), "8");
        assert!(decoder.is_closed());
        assert_eq!(decoder.buf.capacity(), 0, "buffer released");
    }

    #[test]
    fn frame_of_exactly_the_limit_is_accepted() {
        let mut content = b"AOECHO;DS".to_vec();
        content.resize(MAX_REQUEST_FRAME_LEN - 3, b'a');
        content.push(b';');
        let mut input = vec![b'['];
        input.extend_from_slice(&content);
        input.push(b']');
        assert_eq!(input.len(), MAX_REQUEST_FRAME_LEN);
        // Text values are limited separately.
        let err = Frame::decode(&input, Direction::Request).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValueTooLong);
        // A blob is limited by the frame only.
        let mut input = b"[AOECHO;SG".to_vec();
        input.resize(MAX_REQUEST_FRAME_LEN - 2, b'A');
        input.extend_from_slice(b";]");
        assert_eq!(input.len(), MAX_REQUEST_FRAME_LEN);
        Frame::decode(&input, Direction::Request).unwrap();
        input.insert(11, b'A');
        input.insert(11, b'A');
        assert_eq!(
            Frame::decode(&input, Direction::Request)
                .unwrap_err()
                .code(),
            ErrorCode::FrameTooLarge
        );
    }

    #[test]
    fn strict_single_frame_reader() {
        assert!(Frame::decode(b" [AOECHO;]\n", Direction::Request).is_ok());
        let trailing = Frame::decode(b"[AOECHO;][AOTIME;]", Direction::Request).unwrap_err();
        assert_eq!(trailing.error(), &FrameError::TrailingData);
        let none = Frame::decode(b" \n", Direction::Request).unwrap_err();
        assert_eq!(none.error(), &FrameError::NoFrame);
        let truncated = Frame::decode(b"[AOECHO;", Direction::Request).unwrap_err();
        assert_eq!(truncated.code(), ErrorCode::TruncatedFrame);
    }

    /// Pieces that make plausible frames, mixed with arbitrary bytes.
    fn fragment() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"[".to_vec()),
            Just(b"]".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"AOECHO;".to_vec()),
            Just(b"AG12;".to_vec()),
            Just(b"DSsome text%3B;".to_vec()),
            Just(b"DG00FF;".to_vec()),
            Just(b"PWx;".to_vec()),
            "[A-Z]{2}[ -~]{0,20};".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 1..4),
        ]
    }

    proptest! {
        /// Whatever the bytes and however they are split, the decoder does not panic, keeps its
        /// buffer within the limit, consumes its input and returns the same results.
        #[test]
        fn arbitrary_bytes_any_chunking(
            fragments in proptest::collection::vec(fragment(), 0..200),
            cuts in proptest::collection::vec(1usize..64, 0..64),
            small_limit in any::<bool>(),
        ) {
            let data = fragments.concat();
            let decoder = || {
                let mut decoder = FrameDecoder::new(Direction::Request);
                if small_limit {
                    decoder.max_frame_len = 64;
                }
                decoder
            };
            let expected = run(&mut decoder(), &data, &[]);
            let got = run(&mut decoder(), &data, &cuts);
            prop_assert_eq!(expected, got);
        }
    }

    /// Feeds `data` in chunks of the given sizes (the rest in one chunk), checking the buffer
    /// bound after every call; returns the frames re-encoded and the error codes.
    fn run(
        decoder: &mut FrameDecoder,
        data: &[u8],
        cuts: &[usize],
    ) -> Vec<Result<Vec<u8>, (ErrorCode, bool)>> {
        let mut results = Vec::new();
        let mut rest = data;
        let mut cuts = cuts.iter();
        while !rest.is_empty() {
            let size = cuts.next().copied().unwrap_or(rest.len()).min(rest.len());
            let (mut chunk, tail) = rest.split_at(size);
            rest = tail;
            while let Some(item) = decoder.decode(&mut chunk) {
                results.push(match item {
                    Ok(frame) => {
                        assert!(frame.wire_len() <= decoder.max_frame_len);
                        let mut out = Vec::new();
                        frame.encode(&mut out);
                        Ok(out)
                    }
                    Err(e) => Err((e.code(), e.is_fatal())),
                });
                assert!(decoder.buf.capacity() <= decoder.max_content());
            }
            assert!(chunk.is_empty(), "decode consumes its input");
            assert!(decoder.buf.capacity() <= decoder.max_content());
        }
        if let Err(e) = decoder.finish() {
            results.push(Err((e.code(), e.is_fatal())));
        }
        results
    }
}
