//! What typed requests and responses share: the message-level error and the field reader.

use crate::command::Command;
use crate::error_code::ErrorCode;
use crate::frame::Frame;
use crate::limits::MAX_FIELDS;
use crate::tag::Tag;
use crate::value::ValueError;

// The reader marks consumed fields in a u64.
const _: () = assert!(MAX_FIELDS <= 64);

/// Why a well-formed frame is not a valid message. Each maps to one [`ErrorCode`]
/// ([`MessageError::code`]); answer with the frame's [`context`](Frame::context).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The first field is not `AO` (or, in a response, `AO` is missing from a success).
    #[error("the first field must be AO followed by a four-letter command code, e.g. AOECHO")]
    MissingCommand,
    /// A command this version does not know.
    #[error("unknown command {command}: see the command list in docs/host-api.md")]
    UnknownCommand {
        /// The command, kept intact.
        command: Command,
    },
    /// A field the command requires is missing.
    #[error("required field {tag} ({}) is missing", .tag.name())]
    MissingField {
        /// The missing tag.
        tag: Tag,
    },
    /// A known tag the command does not take (requests only: a response ignores extra fields).
    #[error("command {command} does not take field {tag} ({})", .tag.name())]
    UnexpectedTag {
        /// The command.
        command: Command,
        /// The tag.
        tag: Tag,
    },
    /// A value that is well-formed for its class but not valid for its field.
    #[error("{tag} ({}): {error}", .tag.name())]
    Value {
        /// The tag.
        tag: Tag,
        /// What is wrong with the value.
        error: ValueError,
    },
}

impl MessageError {
    /// The stable error code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MissingCommand | Self::MissingField { .. } => ErrorCode::MissingField,
            Self::UnknownCommand { .. } => ErrorCode::UnknownCommand,
            Self::UnexpectedTag { .. } => ErrorCode::UnexpectedTag,
            Self::Value { error, .. } => error.code(),
        }
    }
}

/// Reads the fields of a frame by tag and remembers which were read, so that a request with
/// a field its command does not take is refused.
pub(crate) struct Fields<'f> {
    frame: &'f Frame,
    used: u64,
}

impl<'f> Fields<'f> {
    pub(crate) fn new(frame: &'f Frame) -> Self {
        Self { frame, used: 0 }
    }

    /// The bit of a field position in `used` (positions are below [`MAX_FIELDS`]).
    fn bit(index: usize) -> u64 {
        u32::try_from(index)
            .ok()
            .and_then(|i| 1u64.checked_shl(i))
            .unwrap_or(0)
    }

    fn mark(&mut self, index: usize) {
        self.used |= Self::bit(index);
    }

    fn take(&mut self, tag: Tag) -> Option<&'f str> {
        let (index, (_, value)) = self
            .frame
            .fields()
            .enumerate()
            .find(|(_, (t, _))| *t == tag)?;
        self.mark(index);
        Some(value)
    }

    /// The command of the first field; `None` if the first field is not `AO`.
    pub(crate) fn leading_command(&mut self) -> Result<Option<Command>, MessageError> {
        match self.frame.fields().next() {
            Some((Tag::COMMAND, code)) => {
                self.mark(0);
                Command::parse(code)
                    .map(Some)
                    .map_err(|error| MessageError::Value {
                        tag: Tag::COMMAND,
                        error,
                    })
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn optional<T>(
        &mut self,
        tag: Tag,
        parse: impl FnOnce(&'f str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, MessageError> {
        self.take(tag)
            .map(|raw| parse(raw).map_err(|error| MessageError::Value { tag, error }))
            .transpose()
    }

    pub(crate) fn required<T>(
        &mut self,
        tag: Tag,
        parse: impl FnOnce(&'f str) -> Result<T, ValueError>,
    ) -> Result<T, MessageError> {
        self.optional(tag, parse)?
            .ok_or(MessageError::MissingField { tag })
    }

    /// Fails on the first field that was not read.
    pub(crate) fn finish(self, command: Command) -> Result<(), MessageError> {
        let unread = (0..self.frame.len()).find(|i| self.used & Self::bit(*i) == 0);
        match unread.and_then(|i| self.frame.fields().nth(i)) {
            Some((tag, _)) => Err(MessageError::UnexpectedTag { command, tag }),
            None => Ok(()),
        }
    }
}
