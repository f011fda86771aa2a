//! Frame encoding straight into the caller's output buffer (no intermediate [`Frame`]).
//!
//! The writer checks the same limits as the decoder (value length per class, frame length per
//! direction, token syntax), so an encoded message is always accepted by the peer's decoder.
//!
//! [`Frame`]: crate::Frame

use time::OffsetDateTime;
use zeroize::Zeroize as _;

use crate::frame::Direction;
use crate::tag::Tag;
use crate::value::{self, ValueClass, ValueError};

/// Why a message could not be encoded. Nothing is appended to the output then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value that its tag cannot carry (too long, not a token, time out of range).
    #[error("cannot encode {tag}: {error}")]
    Value {
        /// The tag.
        tag: Tag,
        /// What is wrong with the value.
        error: ValueError,
    },
    /// The frame would exceed the limit of its direction.
    #[error("the frame would be larger than {limit} bytes")]
    FrameTooLarge {
        /// The limit, brackets included.
        limit: usize,
    },
}

/// Appends one frame's fields to an output buffer.
pub(crate) struct FrameWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    limit: usize,
}

impl FrameWriter<'_> {
    /// Writes `[`, the fields written by `body`, and `]`. On error the output is wiped back
    /// to its original length (the partial frame may hold a password).
    pub(crate) fn encode(
        out: &mut Vec<u8>,
        direction: Direction,
        body: impl FnOnce(&mut FrameWriter<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let mut writer = FrameWriter {
            out,
            start,
            limit: direction.max_frame_len(),
        };
        writer.out.push(b'[');
        let result = body(&mut writer).and_then(|()| {
            writer.out.push(b']');
            writer.check_len(0)
        });
        if result.is_err() {
            if let Some(partial) = writer.out.get_mut(start..) {
                partial.zeroize();
            }
            writer.out.truncate(start);
        }
        result
    }

    /// Fails if the frame so far plus `more` bytes would exceed the limit.
    fn check_len(&self, more: usize) -> Result<(), EncodeError> {
        let len = self
            .out
            .len()
            .saturating_sub(self.start)
            .saturating_add(more);
        if len > self.limit {
            return Err(EncodeError::FrameTooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Writes one field; `write` appends the value, whose length is then checked against the
    /// tag's class. `min_len` is a lower bound of the value's length, checked before writing
    /// so a huge value is refused without being copied.
    fn field(
        &mut self,
        tag: Tag,
        min_len: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), ValueError>,
    ) -> Result<(), EncodeError> {
        let class_limit = tag.class().and_then(ValueClass::max_len);
        let too_long = |limit| EncodeError::Value {
            tag,
            error: ValueError::TooLong { limit },
        };
        if let Some(limit) = class_limit
            && min_len > limit
        {
            return Err(too_long(limit));
        }
        // Tag, value, ';' and the closing ']'.
        self.check_len(min_len.saturating_add(4))?;
        self.out.extend_from_slice(&tag.as_bytes());
        let value_start = self.out.len();
        write(self.out).map_err(|error| EncodeError::Value { tag, error })?;
        if let Some(limit) = class_limit
            && self.out.len() - value_start > limit
        {
            return Err(too_long(limit));
        }
        self.out.push(b';');
        self.check_len(1)
    }

    pub(crate) fn token(&mut self, tag: Tag, value: &str) -> Result<(), EncodeError> {
        self.field(tag, value.len(), |out| value::write_token(out, value))
    }

    pub(crate) fn tokens<'v>(
        &mut self,
        tag: Tag,
        items: impl IntoIterator<Item = &'v str>,
    ) -> Result<(), EncodeError> {
        self.field(tag, 0, |out| {
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                value::write_token(out, item)?;
            }
            Ok(())
        })
    }

    pub(crate) fn text(&mut self, tag: Tag, value: &str) -> Result<(), EncodeError> {
        self.field(tag, value.len(), |out| {
            value::write_text(out, value, false);
            Ok(())
        })
    }

    pub(crate) fn texts(&mut self, tag: Tag, items: &[String]) -> Result<(), EncodeError> {
        if items.iter().any(String::is_empty) {
            return Err(EncodeError::Value {
                tag,
                error: ValueError::EmptyListItem,
            });
        }
        let min_len = items.iter().map(String::len).sum();
        self.field(tag, min_len, |out| {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                value::write_text(out, item, true);
            }
            Ok(())
        })
    }

    pub(crate) fn hex(&mut self, tag: Tag, bytes: &[u8]) -> Result<(), EncodeError> {
        self.field(tag, bytes.len().saturating_mul(2), |out| {
            value::write_hex(out, bytes);
            Ok(())
        })
    }

    pub(crate) fn decimal(&mut self, tag: Tag, number: u64) -> Result<(), EncodeError> {
        self.field(tag, 1, |out| {
            value::write_decimal(out, number);
            Ok(())
        })
    }

    pub(crate) fn time(&mut self, tag: Tag, time: OffsetDateTime) -> Result<(), EncodeError> {
        self.field(tag, 1, |out| value::write_time(out, time))
    }

    pub(crate) fn opt_text(&mut self, tag: Tag, value: Option<&str>) -> Result<(), EncodeError> {
        value.map_or(Ok(()), |v| self.text(tag, v))
    }

    pub(crate) fn opt_token(&mut self, tag: Tag, value: Option<&str>) -> Result<(), EncodeError> {
        value.map_or(Ok(()), |v| self.token(tag, v))
    }

    pub(crate) fn opt_decimal(&mut self, tag: Tag, value: Option<u64>) -> Result<(), EncodeError> {
        value.map_or(Ok(()), |v| self.decimal(tag, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_REQUEST_FRAME_LEN, MAX_TEXT_LEN};

    #[test]
    fn writes_a_frame() {
        let mut out = b"previous".to_vec();
        FrameWriter::encode(&mut out, Direction::Request, |w| {
            w.token(Tag::COMMAND, "RAUO")?;
            w.text(Tag::FILE_NAME, "a b;c.exe")?;
            w.hex(Tag::DIGEST, &[0xab, 0x01])?;
            w.decimal(Tag::FILE_SIZE, 42)?;
            w.tokens(Tag::ALLOWED_HASHES, ["SHA256", "SHA384"])?;
            w.texts(Tag::POLICY_LIST, &["x,y".to_owned(), "z".to_owned()])
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "previous[AORAUO;FNa b%3Bc.exe;DGAB01;FS42;AHSHA256,SHA384;PLx%2Cy,z;]"
        );
    }

    #[test]
    fn refuses_what_the_decoder_would_refuse_and_leaves_no_trace() {
        let mut out = b"keep".to_vec();
        let err = FrameWriter::encode(&mut out, Direction::Request, |w| {
            w.token(Tag::COMMAND, "ECHO")?;
            w.token(Tag::CORRELATION, "not a token")
        })
        .unwrap_err();
        assert_eq!(
            err,
            EncodeError::Value {
                tag: Tag::CORRELATION,
                error: ValueError::NotToken { byte: b' ' }
            }
        );
        assert_eq!(out, b"keep");

        let long = "\u{e9}".repeat(MAX_TEXT_LEN / 4);
        let err = FrameWriter::encode(&mut out, Direction::Request, |w| {
            w.text(Tag::DESCRIPTION, &long)
        })
        .unwrap_err();
        assert_eq!(
            err,
            EncodeError::Value {
                tag: Tag::DESCRIPTION,
                error: ValueError::TooLong {
                    limit: MAX_TEXT_LEN
                }
            },
            "the limit applies to the escaped form"
        );

        let blob = vec![0u8; MAX_REQUEST_FRAME_LEN / 2];
        let err = FrameWriter::encode(&mut out, Direction::Request, |w| w.hex(Tag::RESULT, &blob))
            .unwrap_err();
        assert_eq!(
            err,
            EncodeError::FrameTooLarge {
                limit: MAX_REQUEST_FRAME_LEN
            }
        );
        FrameWriter::encode(&mut out, Direction::Response, |w| w.hex(Tag::RESULT, &blob)).unwrap();
        assert_eq!(out.len(), 4 + MAX_REQUEST_FRAME_LEN + 5);
    }

    #[test]
    fn empty_list_items_are_refused() {
        let mut out = Vec::new();
        let err = FrameWriter::encode(&mut out, Direction::Response, |w| {
            w.texts(Tag::POLICY_LIST, &[String::new()])
        })
        .unwrap_err();
        assert!(matches!(
            err,
            EncodeError::Value {
                error: ValueError::EmptyListItem,
                ..
            }
        ));
        let err = FrameWriter::encode(&mut out, Direction::Response, |w| {
            w.tokens(Tag::PERMISSIONS, [""])
        })
        .unwrap_err();
        assert!(matches!(
            err,
            EncodeError::Value {
                error: ValueError::Empty,
                ..
            }
        ));
    }
}
