//! Caller-supplied lengths and buffers, without pointers: what the FFI layer does with each
//! attribute of a template and each output buffer. Kept apart so that property tests can
//! drive it with arbitrary lengths.

use cryptoki_sys::{
    CK_RV, CK_ULONG, CK_UNAVAILABLE_INFORMATION, CKR_ATTRIBUTE_SENSITIVE,
    CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL, CKR_OK,
};

use crate::objects::Value;

/// Most attributes a template may have (a search or a read).
pub const MAX_TEMPLATE: usize = 1024;
/// Largest attribute value a search template may carry.
pub const MAX_SEARCH_VALUE: usize = 64 * 1024;

/// A caller's length as a slice length: `None` when no slice can be that long.
pub fn slice_len(len: CK_ULONG) -> Option<usize> {
    usize::try_from(len)
        .ok()
        .filter(|l| isize::try_from(*l).is_ok())
}

/// What happens with a two-call output buffer of `capacity` bytes (`None`: a null pointer)
/// for a result of `required` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Only the length is asked for: report `required`, keep any operation going.
    LengthOnly,
    /// The buffer is too small: report `required`, answer `CKR_BUFFER_TOO_SMALL`.
    TooSmall,
    /// The result fits.
    Fits,
}

/// Decides a two-call output.
pub fn output(required: usize, capacity: Option<CK_ULONG>) -> Output {
    match capacity {
        None => Output::LengthOnly,
        Some(c) if u128::from(c) >= required as u128 => Output::Fits,
        Some(_) => Output::TooSmall,
    }
}

/// The answer to one attribute of a `C_GetAttributeValue` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeAnswer<'a> {
    /// The new `ulValueLen`.
    pub len: CK_ULONG,
    /// The bytes to copy into `pValue` (only when they fit).
    pub copy: Option<&'a [u8]>,
    /// `CKR_OK` or this attribute's error.
    pub rv: CK_RV,
}

/// Answers one attribute: its value (`None`: the object has no such attribute) for a buffer
/// of `capacity` bytes (`None`: a null `pValue`, only the length is asked for).
pub fn attribute_answer(value: Option<&Value>, capacity: Option<CK_ULONG>) -> AttributeAnswer<'_> {
    let unavailable = |rv| AttributeAnswer {
        len: CK_UNAVAILABLE_INFORMATION,
        copy: None,
        rv,
    };
    let bytes = match value {
        None => return unavailable(CKR_ATTRIBUTE_TYPE_INVALID),
        Some(Value::Sensitive) => return unavailable(CKR_ATTRIBUTE_SENSITIVE),
        Some(Value::Bytes(b)) => b.as_slice(),
    };
    let len = bytes.len() as CK_ULONG;
    match output(bytes.len(), capacity) {
        Output::LengthOnly => AttributeAnswer {
            len,
            copy: None,
            rv: CKR_OK,
        },
        Output::Fits => AttributeAnswer {
            len,
            copy: Some(bytes),
            rv: CKR_OK,
        },
        Output::TooSmall => unavailable(CKR_BUFFER_TOO_SMALL),
    }
}

/// The return value of a whole template: the first attribute's error, else `CKR_OK`.
pub fn template_rv(answers: impl IntoIterator<Item = CK_RV>) -> CK_RV {
    answers
        .into_iter()
        .find(|rv| *rv != CKR_OK)
        .unwrap_or(CKR_OK)
}

/// `text` blank-padded (or cut at a character boundary) to a fixed-width PKCS#11 field.
pub fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if let (Some(dest), Some(src)) = (out.get_mut(..end), text.as_bytes().get(..end)) {
        dest.copy_from_slice(src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_output_is_written_only_when_it_fits(required in 0usize..10_000, capacity in proptest::option::of(any::<CK_ULONG>())) {
            match output(required, capacity) {
                Output::LengthOnly => prop_assert!(capacity.is_none()),
                Output::Fits => prop_assert!(capacity.is_some_and(|c| c as u128 >= required as u128)),
                Output::TooSmall => prop_assert!(capacity.is_some_and(|c| (c as u128) < required as u128)),
            }
        }

        #[test]
        fn an_attribute_copy_never_exceeds_the_buffer(
            value in proptest::option::of(prop_oneof![
                Just(Value::Sensitive),
                proptest::collection::vec(any::<u8>(), 0..600).prop_map(Value::Bytes),
            ]),
            capacity in proptest::option::of(prop_oneof![0u64..700, any::<u64>()]),
        ) {
            let answer = attribute_answer(value.as_ref(), capacity);
            if let Some(copy) = answer.copy {
                let cap = capacity.unwrap_or(0);
                prop_assert!(copy.len() as u128 <= cap as u128);
                prop_assert_eq!(answer.len, copy.len() as CK_ULONG);
                prop_assert_eq!(answer.rv, CKR_OK);
            }
            match &value {
                None => prop_assert_eq!((answer.len, answer.rv), (CK_UNAVAILABLE_INFORMATION, CKR_ATTRIBUTE_TYPE_INVALID)),
                Some(Value::Sensitive) => prop_assert_eq!((answer.len, answer.rv), (CK_UNAVAILABLE_INFORMATION, CKR_ATTRIBUTE_SENSITIVE)),
                Some(Value::Bytes(b)) => {
                    if answer.rv == CKR_BUFFER_TOO_SMALL {
                        prop_assert_eq!(answer.len, CK_UNAVAILABLE_INFORMATION);
                        prop_assert!(capacity.is_some_and(|c| (c as u128) < b.len() as u128));
                    } else {
                        prop_assert_eq!(answer.len, b.len() as CK_ULONG);
                    }
                }
            }
        }

        #[test]
        fn padded_fields_hold_the_longest_whole_character_prefix(text in ".{0,80}") {
            let field: [u8; 32] = padded(&text);
            prop_assert!(std::str::from_utf8(&field).is_ok());
            // The longest prefix of whole characters that fits, then blanks.
            let kept: String = text
                .chars()
                .scan(0, |len, c| { *len += c.len_utf8(); (*len <= 32).then_some(c) })
                .collect();
            let mut expected = kept.into_bytes();
            expected.resize(32, b' ');
            prop_assert_eq!(field.to_vec(), expected);
        }

        #[test]
        fn slice_lengths_stay_within_isize(len in any::<CK_ULONG>()) {
            if let Some(l) = slice_len(len) {
                prop_assert!(l <= isize::MAX as usize);
                prop_assert_eq!(l as CK_ULONG, len);
            } else {
                prop_assert!(len as u128 > isize::MAX as u128);
            }
        }
    }

    #[test]
    fn the_first_error_of_a_template_wins() {
        assert_eq!(template_rv([CKR_OK, CKR_OK]), CKR_OK);
        assert_eq!(
            template_rv([CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_BUFFER_TOO_SMALL]),
            CKR_ATTRIBUTE_SENSITIVE
        );
    }
}
