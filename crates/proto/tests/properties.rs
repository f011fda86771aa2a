//! Property tests of the Host API codec: round trips (encode → decode → equal) of frames and
//! typed messages through the incremental decoder with arbitrary chunking, and "never panics"
//! on arbitrary input for the whole request and response paths.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use sigil_proto::{
    AuthenticodeSubject, AuthenticodeUpload, Command, CorrelationId, Direction, ErrorCode, Frame,
    FrameDecoder, HashAlgorithm, JarUpload, KeyAlgorithm, Login, Metadata, Outcome, Password,
    PolicyInfo, Request, RequestId, RequestStatus, Response, SigningFormat, Tag, ValueClass,
};
use time::OffsetDateTime;

// ----- strategies ------------------------------------------------------------------------------

/// Any text, control characters, delimiters and non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["(?s).{0,24}", "[ -~]{0,24}", "[%;\\[\\],]{0,6}",]
}

fn item_text() -> impl Strategy<Value = String> {
    text().prop_filter("list items are not empty", |s| !s.is_empty())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:+-]{1,64}"
}

fn digest() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=128)
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..3000)
}

fn time() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..=253_402_300_799).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap())
}

fn hash() -> impl Strategy<Value = HashAlgorithm> {
    proptest::sample::select(&HashAlgorithm::ALL[..])
}

fn request_id() -> impl Strategy<Value = RequestId> {
    token().prop_map(|t| RequestId::new(t).unwrap())
}

fn correlation() -> impl Strategy<Value = Option<CorrelationId>> {
    proptest::option::of(token().prop_map(|t| CorrelationId::new(t).unwrap()))
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (
        proptest::option::of(text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(file_name, file_size, build_url, commit, description)| Metadata {
                file_name,
                file_size,
                build_url,
                commit,
                description,
            },
        )
}

fn upload() -> impl Strategy<Value = sigil_proto::Upload> {
    (text(), hash(), digest(), metadata()).prop_map(|(policy, hash, digest, metadata)| {
        sigil_proto::Upload {
            policy,
            hash,
            digest,
            metadata,
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Echo),
        Just(Request::Time),
        (text(), text()).prop_map(|(identity, password)| Request::Login(Login {
            identity,
            password: Password::new(password),
        })),
        Just(Request::Capabilities),
        Just(Request::ListPolicies),
        text().prop_map(|policy| Request::GetPolicy { policy }),
        upload().prop_map(Request::UploadHash),
        request_id().prop_map(|id| Request::RetrieveHash { id }),
        (
            upload(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(proptest::sample::select(AuthenticodeSubject::ALL))
        )
            .prop_map(|(upload, program_name, program_url, subject)| {
                Request::UploadAuthenticode(AuthenticodeUpload {
                    upload,
                    program_name,
                    program_url,
                    subject,
                })
            }),
        request_id().prop_map(|id| Request::RetrieveAuthenticode { id }),
        (
            upload(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(token())
        )
            .prop_map(
                |(upload, entry_count, signer_name)| Request::UploadJar(JarUpload {
                    upload,
                    entry_count,
                    signer_name,
                })
            ),
        request_id().prop_map(|id| Request::RetrieveJar { id }),
        (upload(), time()).prop_map(|(upload, created)| Request::UploadOpenPgp(
            sigil_proto::OpenPgpUpload { upload, created }
        )),
        request_id().prop_map(|id| Request::RetrieveOpenPgp { id }),
        text().prop_map(|policy| Request::GetOpenPgpKey { policy }),
    ]
}

fn known_command() -> impl Strategy<Value = Command> {
    proptest::sample::select(Command::KNOWN)
}

fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        known_command(),
        "[A-Z]{4}".prop_map(|code| Command::parse(&code).unwrap()),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        proptest::sample::select(ErrorCode::KNOWN),
        "[A-Z_]{1,30}".prop_map(|code| ErrorCode::parse(&code).unwrap()),
    ]
}

fn status() -> impl Strategy<Value = RequestStatus> {
    let outcome = prop_oneof![
        Just(Outcome::Pending),
        Just(Outcome::Approved),
        blob().prop_map(|result| Outcome::Signed { result }),
        proptest::option::of(text()).prop_map(|reason| Outcome::Denied { reason }),
        Just(Outcome::Expired),
        Just(Outcome::Failed),
    ];
    (
        request_id(),
        outcome,
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(time()),
        proptest::option::of(blob()),
    )
        .prop_map(
            |(id, outcome, approvals_required, approvals_received, expires, timestamp)| {
                // `TS` travels only with a signed result.
                let timestamp = timestamp.filter(|_| matches!(outcome, Outcome::Signed { .. }));
                RequestStatus {
                    id,
                    outcome,
                    approvals_required,
                    approvals_received,
                    expires,
                    timestamp,
                }
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        token().prop_map(|version| Response::Echo { version }),
        time().prop_map(|time| Response::Time { time }),
        any::<u32>().prop_map(|logins_remaining| Response::Login { logins_remaining }),
        (
            proptest::collection::vec(any_command(), 0..16),
            proptest::collection::vec(token(), 0..16)
        )
            .prop_map(|(commands, permissions)| Response::Capabilities {
                commands,
                permissions
            }),
        proptest::collection::vec(item_text(), 0..16)
            .prop_map(|policies| Response::ListPolicies { policies }),
        (
            text(),
            proptest::sample::select(&KeyAlgorithm::ALL[..]),
            blob(),
            proptest::sample::subsequence(&HashAlgorithm::ALL[..], 0..=3),
            proptest::sample::subsequence(SigningFormat::ALL, 0..=4),
            any::<u32>(),
            any::<bool>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 20)),
        )
            .prop_map(
                |(
                    policy,
                    key_algorithm,
                    certificate_chain,
                    hashes,
                    formats,
                    approvals,
                    stamp,
                    openpgp_fingerprint,
                )| {
                    Response::GetPolicy(PolicyInfo {
                        policy,
                        key_algorithm,
                        certificate_chain,
                        allowed_hashes: hashes,
                        allowed_formats: formats,
                        approvals_required: approvals,
                        timestamp_required: stamp,
                        openpgp_fingerprint,
                    })
                }
            ),
        (0..8usize, status()).prop_map(|(which, status)| match which {
            0 => Response::UploadHash(status),
            1 => Response::RetrieveHash(status),
            2 => Response::UploadAuthenticode(status),
            3 => Response::RetrieveAuthenticode(status),
            4 => Response::UploadJar(status),
            5 => Response::RetrieveJar(status),
            6 => Response::UploadOpenPgp(status),
            _ => Response::RetrieveOpenPgp(status),
        }),
        (text(), proptest::collection::vec(any::<u8>(), 20), blob()).prop_map(
            |(policy, fingerprint, key)| Response::GetOpenPgpKey(sigil_proto::OpenPgpKey {
                policy,
                fingerprint,
                key,
            })
        ),
        (proptest::option::of(any_command()), error_code(), text())
            .prop_map(|(command, code, message)| Response::failure(command, code, message)),
    ]
}

/// A raw value that is valid for a class.
fn raw_value(class: ValueClass) -> BoxedStrategy<String> {
    match class {
        ValueClass::Token => token().boxed(),
        ValueClass::Time => Just("2025-06-01T12:00:00Z".to_owned()).boxed(),
        ValueClass::TokenList => proptest::collection::vec(token(), 0..5)
            .prop_map(|items| items.join(","))
            .boxed(),
        ValueClass::Decimal => "[0-9]{1,19}".boxed(),
        ValueClass::Text | ValueClass::Secret => "([ -$&-:<-Z^-~]|%[0-7][0-9A-Fa-f]){0,30}".boxed(),
        ValueClass::TextList => proptest::collection::vec("([ -$&-+\\--:<-Z^-~]|%2C){1,8}", 0..5)
            .prop_map(|items| items.join(","))
            .boxed(),
        ValueClass::Digest | ValueClass::Blob => "([0-9A-Fa-f]{2}){0,64}".boxed(),
    }
}

fn frame(direction: Direction) -> impl Strategy<Value = Vec<(Tag, String)>> {
    let known = proptest::sample::subsequence(Tag::KNOWN, 0..Tag::KNOWN.len());
    let unknown = proptest::collection::btree_set("Z[A-Z]", 0..4);
    (known, unknown, any::<u64>()).prop_flat_map(move |(known, unknown, seed)| {
        let mut tags = known.clone();
        if direction == Direction::Response {
            tags.extend(unknown.iter().map(|t| {
                let b = t.as_bytes();
                Tag::from_bytes([b[0], b[1]]).unwrap()
            }));
        }
        // A deterministic shuffle so that order varies.
        let len = tags.len().max(1) as u64;
        tags.rotate_left((seed % len) as usize);
        tags.into_iter()
            .map(|tag| {
                let class = tag.class();
                let value = match class {
                    Some(class) => raw_value(class),
                    None => "[ -:<-Z^-~]{0,20}".boxed(),
                };
                value.prop_map(move |v| (tag, v))
            })
            .collect::<Vec<_>>()
    })
}

// ----- helpers ---------------------------------------------------------------------------------

/// Decodes a byte stream fed in chunks of the given sizes; panics on any error.
fn decode_stream(bytes: &[u8], direction: Direction, cuts: &[usize]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new(direction);
    let mut frames = Vec::new();
    let mut rest = bytes;
    let mut cuts = cuts.iter().copied().cycle();
    while !rest.is_empty() {
        let size = cuts.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (mut chunk, tail) = rest.split_at(size);
        rest = tail;
        while let Some(item) = decoder.decode(&mut chunk) {
            frames.push(item.unwrap_or_else(|e| panic!("{e}")));
        }
    }
    decoder.finish().unwrap();
    frames
}

// ----- properties ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Frames built field by field encode, and decode back to the same fields.
    #[test]
    fn frame_round_trip(
        fields in prop_oneof![frame(Direction::Request).prop_map(|f| (Direction::Request, f)),
                              frame(Direction::Response).prop_map(|f| (Direction::Response, f))],
        cuts in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let (direction, fields) = fields;
        let mut frame = Frame::new();
        for (tag, value) in &fields {
            frame.push(*tag, value).unwrap();
        }
        let mut wire = Vec::new();
        frame.encode(&mut wire);
        wire.extend_from_slice(b"\r\n");
        frame.encode(&mut wire);
        let decoded = decode_stream(&wire, direction, &cuts);
        prop_assert_eq!(decoded.len(), 2);
        for got in decoded {
            let got_fields: Vec<(Tag, String)> =
                got.fields().map(|(t, v)| (t, v.to_owned())).collect();
            prop_assert_eq!(&got_fields, &fields);
            prop_assert_eq!(&got, &frame);
        }
    }

    /// Requests survive encode → chunked decode → Request::decode, pipelined.
    #[test]
    fn request_round_trip(
        messages in proptest::collection::vec((request(), correlation()), 1..5),
        cuts in proptest::collection::vec(1usize..100, 1..8),
    ) {
        let mut wire = Vec::new();
        for (request, correlation) in &messages {
            request.encode(correlation.as_ref(), &mut wire).unwrap();
            wire.push(b'\n');
        }
        let frames = decode_stream(&wire, Direction::Request, &cuts);
        prop_assert_eq!(frames.len(), messages.len());
        for (frame, (request, correlation)) in frames.iter().zip(&messages) {
            prop_assert!(frame.wire_len() <= sigil_proto::MAX_REQUEST_FRAME_LEN);
            prop_assert_eq!(&Request::decode(frame).unwrap(), request);
            prop_assert_eq!(&frame.correlation(), correlation);
            prop_assert_eq!(frame.command(), Some(request.command()));
        }
    }

    /// Responses survive encode → chunked decode → Response::decode.
    #[test]
    fn response_round_trip(
        messages in proptest::collection::vec((response(), correlation()), 1..4),
        cuts in proptest::collection::vec(1usize..500, 1..8),
    ) {
        let mut wire = Vec::new();
        for (response, correlation) in &messages {
            response.encode(correlation.as_ref(), &mut wire).unwrap();
        }
        let frames = decode_stream(&wire, Direction::Response, &cuts);
        prop_assert_eq!(frames.len(), messages.len());
        for (frame, (response, correlation)) in frames.iter().zip(&messages) {
            prop_assert_eq!(&Response::decode(frame).unwrap(), response);
            prop_assert_eq!(&frame.correlation(), correlation);
        }
    }

    /// Arbitrary bytes through the whole server path never panic, and every refusal yields a
    /// failure response that encodes.
    #[test]
    fn arbitrary_input_never_panics(
        data in proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                2 => proptest::sample::select(b"[];%,AOGNEHYRS0123456789".to_vec()),
            ],
            0..600,
        ),
        chunk in 1usize..64,
    ) {
        for direction in [Direction::Request, Direction::Response] {
            let mut decoder = FrameDecoder::new(direction);
            for mut piece in data.chunks(chunk) {
                while let Some(item) = decoder.decode(&mut piece) {
                    let mut out = Vec::new();
                    match item {
                        Ok(frame) => {
                            let correlation = frame.correlation();
                            match direction {
                                Direction::Request => match Request::decode(&frame) {
                                    Ok(request) => request.encode(correlation.as_ref(), &mut out).unwrap(),
                                    Err(e) => frame
                                        .context()
                                        .failure(e.code(), e.to_string())
                                        .encode(correlation.as_ref(), &mut out)
                                        .unwrap(),
                                },
                                Direction::Response => {
                                    if let Ok(response) = Response::decode(&frame) {
                                        response.encode(correlation.as_ref(), &mut out).unwrap();
                                    }
                                }
                            }
                        }
                        Err(e) => e.response().encode(e.context().correlation.as_ref(), &mut out).unwrap(),
                    }
                }
            }
            let _ = decoder.finish();
        }
    }
}
