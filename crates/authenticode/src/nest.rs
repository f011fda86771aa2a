//! Nesting a signature inside an existing one (append mode).
//!
//! Authenticode keeps one PKCS#7 per file; further signatures live in the
//! first SignerInfo's unsigned attribute `SPC_NESTED_SIGNATURE_OBJID`
//! (1.3.6.1.4.1.311.2.4.1), each value a complete `ContentInfo` — what
//! signtool `/as` and osslsigncode `-nest` write. Unsigned attributes are not
//! covered by the signature, so adding one leaves the existing signature valid.
//!
//! The existing structure is edited at the DER element level instead of being
//! decoded and re-encoded: every byte of it (certificates, signed attributes)
//! is kept exactly as it was, and only the lengths of the enclosing elements
//! change.

use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, TagNumber, Tagged};

use crate::content::SPC_NESTED_SIGNATURE_OBJID;
use crate::error::{AuthenticodeError, Result};
use crate::signature::MAX_SIGNATURES;

/// `[0]` constructed: the explicit content of a `ContentInfo`.
const EXPLICIT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};
/// `[1] IMPLICIT`: a SignerInfo's `unsignedAttrs`.
const UNSIGNED_ATTRS: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(1),
};

/// Adds the DER `ContentInfo` `nested` as a nested signature of the DER `ContentInfo` `primary`.
pub(crate) fn add_nested_signature(primary: &[u8], nested: &[u8]) -> Result<Vec<u8>> {
    // ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT SignedData }
    let [content_type, explicit] = exactly::<2>(children_of(primary, Tag::Sequence)?)?;
    let [signed_data] = exactly::<1>(children_of(explicit, EXPLICIT_0)?)?;
    // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, [0] certs, [1] crls, signerInfos SET }
    let mut signed_data_parts = children_of(signed_data, Tag::Sequence)?;
    let signer_infos = signed_data_parts
        .pop()
        .ok_or_else(|| malformed("SignedData is empty"))?;
    let mut signer_info_list = children_of(signer_infos, Tag::Set)?;
    if signer_info_list.is_empty() {
        return Err(malformed("SignedData has no SignerInfo"));
    }
    let first = signer_info_list.remove(0);

    let signer_info = with_nested(first, nested)?;
    let signer_infos = encode(
        Tag::Set,
        std::iter::once(signer_info.as_slice()).chain(signer_info_list),
    )?;
    let signed_data = encode(
        Tag::Sequence,
        signed_data_parts
            .into_iter()
            .chain([signer_infos.as_slice()]),
    )?;
    let explicit = encode(EXPLICIT_0, [signed_data.as_slice()])?;
    encode(Tag::Sequence, [content_type, explicit.as_slice()])
}

/// The SignerInfo `signer_info` with `nested` added to its nested-signature attribute.
fn with_nested(signer_info: &[u8], nested: &[u8]) -> Result<Vec<u8>> {
    let mut parts = children_of(signer_info, Tag::Sequence)?;
    let existing = match parts.last() {
        Some(last) if tag_of(last)? == UNSIGNED_ATTRS => {
            let attrs = children_of(last, UNSIGNED_ATTRS)?;
            parts.pop();
            attrs
        }
        _ => Vec::new(),
    };

    let mut attrs: Vec<Vec<u8>> = Vec::with_capacity(existing.len() + 1);
    let mut added = false;
    for attr in existing {
        // Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }
        let [oid, values] = exactly::<2>(children_of(attr, Tag::Sequence)?)?;
        let oid = ObjectIdentifier::from_der(oid)
            .map_err(|e| malformed(format!("unsigned attribute type: {e}")))?;
        if oid != SPC_NESTED_SIGNATURE_OBJID || added {
            attrs.push(attr.to_vec());
            continue;
        }
        let mut values: Vec<&[u8]> = children_of(values, Tag::Set)?;
        if values.len() >= MAX_SIGNATURES {
            return Err(malformed(format!(
                "the signature already holds {} nested signatures (limit {MAX_SIGNATURES})",
                values.len()
            )));
        }
        values.push(nested);
        attrs.push(nested_attribute(values)?);
        added = true;
    }
    if !added {
        attrs.push(nested_attribute(vec![nested])?);
    }
    // DER: the elements of a SET OF are sorted by their encodings.
    attrs.sort();
    let unsigned = encode(UNSIGNED_ATTRS, attrs.iter().map(Vec::as_slice))?;
    encode(
        Tag::Sequence,
        parts.into_iter().chain([unsigned.as_slice()]),
    )
}

/// `Attribute { SPC_NESTED_SIGNATURE_OBJID, SET OF values }` with the values in DER order.
fn nested_attribute(mut values: Vec<&[u8]>) -> Result<Vec<u8>> {
    values.sort();
    let oid = SPC_NESTED_SIGNATURE_OBJID
        .to_der()
        .map_err(AuthenticodeError::encode("nested signature attribute"))?;
    let set = encode(Tag::Set, values)?;
    encode(Tag::Sequence, [oid.as_slice(), set.as_slice()])
}

/// The tag of a DER element.
fn tag_of(element: &[u8]) -> Result<Tag> {
    Ok(AnyRef::from_der(element)
        .map_err(|e| malformed(format!("not DER: {e}")))?
        .tag())
}

/// The child elements of the DER element `element`, which must have tag `expected`.
fn children_of(element: &[u8], expected: Tag) -> Result<Vec<&[u8]>> {
    let any = AnyRef::from_der(element).map_err(|e| malformed(format!("not DER: {e}")))?;
    if any.tag() != expected {
        return Err(malformed(format!(
            "found a {} where a {expected} was expected",
            any.tag()
        )));
    }
    let mut reader =
        SliceReader::new(any.value()).map_err(|e| malformed(format!("not DER: {e}")))?;
    let mut children = Vec::new();
    while !reader.is_finished() {
        children.push(
            reader
                .tlv_bytes()
                .map_err(|e| malformed(format!("not DER: {e}")))?,
        );
    }
    Ok(children)
}

/// Exactly `N` elements.
fn exactly<const N: usize>(elements: Vec<&[u8]>) -> Result<[&[u8]; N]> {
    let found = elements.len();
    elements
        .try_into()
        .map_err(|_| malformed(format!("expected {N} elements, found {found}")))
}

/// A DER element with `tag` whose contents are `parts` concatenated.
fn encode<'a>(tag: Tag, parts: impl IntoIterator<Item = &'a [u8]> + Clone) -> Result<Vec<u8>> {
    let len: usize = parts.clone().into_iter().map(<[u8]>::len).sum();
    let header = Header::new(
        tag,
        Length::try_from(len).map_err(AuthenticodeError::encode("signature"))?,
    );
    let mut out = header
        .to_der()
        .map_err(AuthenticodeError::encode("signature"))?;
    out.reserve(len);
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

fn malformed(reason: impl Into<String>) -> AuthenticodeError {
    AuthenticodeError::malformed(format!(
        "cannot nest into the existing signature: {}",
        reason.into()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn never_panics(primary in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = add_nested_signature(&primary, &[0x30, 0x00]);
        }
    }
}
