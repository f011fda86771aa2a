//! Host API codec hot path: a `RAUO` hash-signing upload (what every client request is) and the
//! `RAGO` answer carrying an RSA-2048 signature, each encoded and decoded (frame syntax plus the
//! typed message), one frame per iteration and a pipelined burst through `FrameDecoder`.
//!
//! `cargo bench -p sigil-proto --bench frames`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigil_proto::{
    CorrelationId, Direction, Frame, FrameDecoder, HashAlgorithm, Metadata, Outcome, Request,
    RequestId, RequestStatus, Response, Upload,
};

/// Frames in the pipelined-burst case (a client keeping many requests in flight).
const BURST: usize = 64;

fn upload() -> Request {
    Request::UploadHash(Upload {
        policy: "release-rsa2048".into(),
        hash: HashAlgorithm::Sha256,
        digest: (0u8..32).collect(),
        metadata: Metadata {
            file_name: Some("setup x64.exe".into()),
            file_size: Some(16_777_216),
            build_url: Some("https://ci.example.com/job/app/1234/".into()),
            commit: Some("3f2a9c1d0b8e7f6a5c4d3e2f1a0b9c8d7e6f5a4b".into()),
            description: None,
        },
    })
}

fn retrieved() -> Response {
    Response::RetrieveHash(RequestStatus {
        id: RequestId::new("7F3A9C2E-0B1D-4E55-9A51-6C0E2D4B8F10").unwrap(),
        outcome: Outcome::Signed {
            // An RSA-2048 signature is 256 bytes: 512 hex characters on the wire.
            result: (0..256u32).map(|i| (i * 37 % 251) as u8).collect(),
        },
        approvals_required: 0,
        approvals_received: 0,
        expires: None,
        timestamp: None,
    })
}

fn encoded_request(correlation: &CorrelationId) -> Vec<u8> {
    let mut out = Vec::new();
    upload().encode(Some(correlation), &mut out).unwrap();
    out
}

fn encoded_response(correlation: &CorrelationId) -> Vec<u8> {
    let mut out = Vec::new();
    retrieved().encode(Some(correlation), &mut out).unwrap();
    out
}

fn single_frames(c: &mut Criterion) {
    let correlation = CorrelationId::new("42").unwrap();
    let request = upload();
    let response = retrieved();
    let request_wire = encoded_request(&correlation);
    let response_wire = encoded_response(&correlation);
    // The decoded values must round-trip, or the benchmark measures an error path.
    assert_eq!(
        Request::decode(&Frame::decode(&request_wire, Direction::Request).unwrap()).unwrap(),
        request
    );
    assert_eq!(
        Response::decode(&Frame::decode(&response_wire, Direction::Response).unwrap()).unwrap(),
        response
    );

    let mut group = c.benchmark_group("hostapi_frame");
    group.throughput(Throughput::Bytes(request_wire.len() as u64));
    group.bench_function("RAUO_request_encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&request)
                .encode(Some(&correlation), &mut out)
                .unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("RAUO_request_decode", |b| {
        b.iter(|| {
            let frame = Frame::decode(black_box(&request_wire), Direction::Request).unwrap();
            black_box(Request::decode(&frame).unwrap())
        })
    });
    group.throughput(Throughput::Bytes(response_wire.len() as u64));
    group.bench_function("RAGO_response_encode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&response)
                .encode(Some(&correlation), &mut out)
                .unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("RAGO_response_decode", |b| {
        b.iter(|| {
            let frame = Frame::decode(black_box(&response_wire), Direction::Response).unwrap();
            black_box(Response::decode(&frame).unwrap())
        })
    });
    group.finish();
}

/// A burst of pipelined requests as a server reads it off one connection: incremental
/// frame decoding (newline-separated, split at arbitrary points) then the typed decode.
fn pipelined_burst(c: &mut Criterion) {
    let mut wire = Vec::new();
    for i in 0..BURST {
        let correlation = CorrelationId::new(i.to_string()).unwrap();
        wire.extend_from_slice(&encoded_request(&correlation));
        wire.push(b'\n');
    }
    let mut group = c.benchmark_group("hostapi_stream");
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function("RAUO_x64_decoder_4k_reads", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new(Direction::Request);
            let mut decoded = 0usize;
            for chunk in black_box(&wire).chunks(4096) {
                for frame in decoder.feed(chunk) {
                    black_box(Request::decode(&frame.unwrap()).unwrap());
                    decoded += 1;
                }
            }
            decoder.finish().unwrap();
            assert_eq!(decoded, BURST);
        })
    });
    group.finish();
}

criterion_group!(benches, single_frames, pipelined_burst);
criterion_main!(benches);
