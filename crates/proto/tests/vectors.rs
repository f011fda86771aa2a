//! Replays the Host API vectors of `testdata/hostapi/` (see its README).
//!
//! `SIGIL_RECORD_VECTORS=1 cargo test -p sigil-proto --test vectors` rewrites the `decoded`
//! and `canonical` lines of the request and response vectors from the current code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::path::PathBuf;

use sigil_proto::{Direction, FrameDecoder, Request, Response};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/hostapi")
        .join(name)
}

/// Reads the `\n \r \t \\ \xNN` escapes of the vector files.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: String = [bytes.next().unwrap(), bytes.next().unwrap()]
                    .iter()
                    .map(|b| char::from(*b))
                    .collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            other => panic!("bad escape \\{other:?} in {text}"),
        }
    }
    out
}

/// What the codec makes of one complete message: its Debug form and its canonical encoding.
fn decode_one(wire: &[u8], direction: Direction) -> (String, String) {
    let frame = sigil_proto::Frame::decode(wire, direction)
        .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(wire)));
    let correlation = frame.correlation();
    let mut out = Vec::new();
    let decoded = match direction {
        Direction::Request => {
            let request = Request::decode(&frame).unwrap();
            request.encode(correlation.as_ref(), &mut out).unwrap();
            format!("{request:?}")
        }
        Direction::Response => {
            let response = Response::decode(&frame).unwrap();
            response.encode(correlation.as_ref(), &mut out).unwrap();
            format!("{response:?}")
        }
    };
    (decoded, String::from_utf8(out).unwrap())
}

fn replay_vectors(file: &str, direction: Direction) {
    let path = testdata(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let record = std::env::var_os("SIGIL_RECORD_VECTORS").is_some();
    let mut rewritten = String::new();
    let mut current: Option<(String, String)> = None;
    let mut count = 0;
    for line in text.lines() {
        if let Some(wire) = line.strip_prefix("wire: ") {
            current = Some(decode_one(&unescape(wire), direction));
            count += 1;
            writeln!(rewritten, "{line}").unwrap();
        } else if let Some(expected) = line.strip_prefix("decoded: ") {
            let (decoded, _) = current.as_ref().expect("`decoded` before `wire`");
            if !record {
                assert_eq!(decoded, expected, "{file}");
            }
            writeln!(rewritten, "decoded: {decoded}").unwrap();
        } else if let Some(expected) = line.strip_prefix("canonical: ") {
            let (_, canonical) = current.take().expect("`canonical` before `wire`");
            if !record {
                assert_eq!(canonical, expected, "{file}");
                // The canonical form is a fixed point.
                let (_, again) = decode_one(canonical.as_bytes(), direction);
                assert_eq!(again, canonical, "{file}");
            }
            writeln!(rewritten, "canonical: {canonical}").unwrap();
        } else {
            writeln!(rewritten, "{line}").unwrap();
        }
    }
    assert!(count > 10, "{file}: only {count} vectors");
    if record {
        std::fs::write(&path, rewritten).unwrap();
    }
}

#[test]
fn request_vectors() {
    replay_vectors("requests.txt", Direction::Request);
}

#[test]
fn response_vectors() {
    replay_vectors("responses.txt", Direction::Response);
}

/// How the codec refuses a request stream: code, fatal, echoed AO and AG.
fn refusal(wire: &[u8]) -> (String, bool, String, String) {
    let mut decoder = FrameDecoder::new(Direction::Request);
    let mut input = wire;
    let (code, fatal, context) = match decoder.decode(&mut input) {
        Some(Ok(frame)) => match Request::decode(&frame) {
            Ok(request) => panic!("accepted: {request:?}"),
            Err(e) => (e.code(), false, frame.context()),
        },
        Some(Err(e)) => (e.code(), e.is_fatal(), e.context().clone()),
        None => {
            let e = decoder.finish().expect_err("no frame and no error");
            (e.code(), e.is_fatal(), e.context().clone())
        }
    };
    let command = context.command.map_or("-".to_owned(), |c| c.to_string());
    let correlation = context
        .correlation
        .map_or("-".to_owned(), |c| c.to_string());
    (code.to_string(), fatal, command, correlation)
}

#[test]
fn bad_request_catalogue() {
    let text = std::fs::read_to_string(testdata("bad-requests.txt")).unwrap();
    let mut count = 0;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut columns = line.splitn(5, ' ');
        let mut next = || {
            columns
                .next()
                .unwrap_or_else(|| panic!("short line: {line}"))
        };
        let (code, fate, command, correlation, wire) = (next(), next(), next(), next(), next());
        let expected = (
            code.to_owned(),
            match fate {
                "close" => true,
                "keep" => false,
                other => panic!("fate must be close or keep, not {other}"),
            },
            command.to_owned(),
            correlation.to_owned(),
        );
        assert_eq!(refusal(&unescape(wire)), expected, "{line}");
        count += 1;
    }
    assert!(count > 30, "only {count} cases");
}

/// Every known error code that a request can provoke at the codec level has a case.
#[test]
fn catalogue_covers_every_codec_error_code() {
    let text = std::fs::read_to_string(testdata("bad-requests.txt")).unwrap();
    for code in [
        "TRUNCATED_FRAME",
        "FRAME_SYNTAX",
        "MALFORMED_FIELD",
        "UNKNOWN_TAG",
        "DUPLICATE_TAG",
        "UNEXPECTED_TAG",
        "VALUE_TOO_LONG",
        "BAD_HEX",
        "BAD_ESCAPE",
        "MISSING_FIELD",
        "BAD_VALUE",
        "UNKNOWN_COMMAND",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{code} "))),
            "no case for {code}"
        );
    }
}
