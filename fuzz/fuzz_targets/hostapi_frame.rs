//! Fuzzes the Host API codec (`sigil-proto`): `FrameDecoder` fed in chunks, then
//! `Request::decode` (server side) and `Response::decode` (client side).
//!
//! Invariants checked besides "never panics":
//! - every refusal turns into a failure response that encodes;
//! - whatever decodes re-encodes, and the re-encoding is a fixed point (decode → encode gives
//!   the same bytes again).
//!
//! The first input byte sets the chunk size, the rest is the byte stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_proto::{CorrelationId, Direction, Frame, FrameDecoder, Request, Response};

/// Decodes one canonical encoding and encodes it again.
fn reencode(bytes: &[u8], direction: Direction) -> Vec<u8> {
    let frame = Frame::decode(bytes, direction).expect("canonical encoding decodes");
    let mut out = Vec::new();
    match direction {
        Direction::Request => Request::decode(&frame)
            .expect("canonical request decodes")
            .encode(frame.correlation().as_ref(), &mut out),
        Direction::Response => Response::decode(&frame)
            .expect("canonical response decodes")
            .encode(frame.correlation().as_ref(), &mut out),
    }
    .expect("canonical message encodes");
    out
}

fn check_failure_encodes(response: &Response, correlation: Option<&CorrelationId>) {
    let mut out = Vec::new();
    response
        .encode(correlation, &mut out)
        .expect("failure response encodes");
}

fn run(data: &[u8], chunk: usize, direction: Direction) {
    let mut decoder = FrameDecoder::new(direction);
    for mut piece in data.chunks(chunk) {
        while let Some(item) = decoder.decode(&mut piece) {
            let frame = match item {
                Ok(frame) => frame,
                Err(e) => {
                    check_failure_encodes(&e.response(), e.context().correlation.as_ref());
                    continue;
                }
            };
            assert!(frame.wire_len() <= direction.max_frame_len());
            let correlation = frame.correlation();
            let mut first = Vec::new();
            let encoded = match direction {
                Direction::Request => match Request::decode(&frame) {
                    Ok(request) => request.encode(correlation.as_ref(), &mut first),
                    Err(e) => {
                        let failure = frame.context().failure(e.code(), e.to_string());
                        check_failure_encodes(&failure, correlation.as_ref());
                        continue;
                    }
                },
                Direction::Response => match Response::decode(&frame) {
                    Ok(response) => response.encode(correlation.as_ref(), &mut first),
                    Err(_) => continue,
                },
            };
            encoded.expect("a decoded message encodes");
            let second = reencode(&first, direction);
            assert_eq!(first, second, "canonical encoding is a fixed point");
        }
    }
    let _ = decoder.finish();
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first).max(1);
    run(stream, chunk, Direction::Request);
    run(stream, chunk, Direction::Response);
});
