//! `POST /api/v1/timestamp`: the RFC 3161 time-stamping authority over HTTP (RFC 3161 §3.4).
//!
//! No login: RFC 3161 clients (`jarsigner -tsa`, `signtool /tr`, `osslsigncode -ts`) only POST
//! a DER `TimeStampReq` as `application/timestamp-query` and read a DER `TimeStampResp` as
//! `application/timestamp-reply`. Every answer is a `TimeStampResp`:
//!
//! | case | HTTP status | body |
//! |---|---|---|
//! | token issued | 200 | granted + token |
//! | bad request (malformed, unsupported hash, foreign policy, critical extension, over 16 KiB) | 200 | rejection + failure bit |
//! | wrong `Content-Type` | 415 | rejection, `badDataFormat` |
//! | TSA not set up, or its certificate unusable | 503 | rejection, `systemFailure` |
//! | over `[server] timestamp_rate_per_sec` | 503 + `Retry-After` | rejection, `systemFailure` |
//!
//! Rejections go out with 200 because that is what the protocol's status field is for and
//! what clients print (openssl shows the status text; jarsigner names the failure); 503 marks
//! an unavailable service so that load balancers and monitoring see it.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sigil_pki::tsp::{self, FailureInfo, MAX_REQUEST_LEN};

use super::Https;
use crate::service::timestamp::{self as svc, Reply, ReplyStatus};

/// The request media type (RFC 3161 §3.4).
pub(crate) const QUERY_TYPE: &str = "application/timestamp-query";
/// The response media type (RFC 3161 §3.4).
pub(crate) const REPLY_TYPE: &str = "application/timestamp-reply";

/// `POST /timestamp`: an RFC 3161 time-stamp (RFC 3161 §3.4), no session.
///
/// The body is a DER `TimeStampReq` (at most 16 KiB); every answer is a DER `TimeStampResp`.
/// A rejected request is answered `200` with its failure bit, as the protocol's status field
/// is made for; see `docs/timestamping.md`.
#[utoipa::path(
    post,
    path = "/timestamp",
    tag = "timestamp",
    security(()),
    request_body(description = "A DER `TimeStampReq`.", content(("application/timestamp-query"))),
    responses(
        (status = 200, description = "A `TimeStampResp`: granted with its token, or rejected with its failure bit.", content(("application/timestamp-reply"))),
        (status = 415, description = "A `TimeStampResp` rejecting with `badDataFormat`: the `Content-Type` is not `application/timestamp-query`.", content(("application/timestamp-reply"))),
        (status = 503, description = "A `TimeStampResp` with `systemFailure`: the TSA is not set up, its certificate is unusable, or the rate limit is reached (then with `Retry-After`).", content(("application/timestamp-reply"))),
    )
)]
pub(crate) async fn timestamp(State(h): State<Https>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The body is read (bounded) before anything is answered: an HTTP/2 stream answered
    // while the client still sends is reset, and the client would see no reply at all.
    // One byte past the limit tells an oversized body apart from a full one.
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_LEN + 1).await;
    let media_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|t| t.eq_ignore_ascii_case(QUERY_TYPE)) {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            rejection(
                FailureInfo::BadDataFormat,
                &format!("send the DER TimeStampReq with Content-Type: {QUERY_TYPE}"),
            ),
        );
    }
    let bytes = match bytes {
        Ok(bytes) if bytes.len() <= MAX_REQUEST_LEN => bytes,
        _ => {
            return reply(
                StatusCode::OK,
                rejection(
                    FailureInfo::BadDataFormat,
                    &format!(
                        "the time-stamp request is larger than the {MAX_REQUEST_LEN}-byte limit, or its body could not be read"
                    ),
                ),
            );
        }
    };
    if !h.timestamp_limit.try_take(std::time::Instant::now()) {
        // Not audited: an audit event per refused request is what a flood would want.
        tracing::debug!("time-stamp request over the rate limit");
        crate::metrics::timestamp(Some("rate_limited"));
        // One token's refill time, in whole seconds (at least 1, at most an hour).
        let wait = (1.0 / h.timestamp_limit.rate()).ceil().clamp(1.0, 3600.0) as u32;
        let mut response = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            rejection(
                FailureInfo::SystemFailure,
                &format!(
                    "too many time-stamp requests: this TSA issues at most {} per second; retry in {wait} s",
                    h.timestamp_limit.rate()
                ),
            ),
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let source = super::extract::source(&parts).map(|addr| addr.to_string());
    let Reply { der, status } = svc::timestamp(&h.app, &bytes, source.as_deref()).await;
    let (code, refusal) = match status {
        ReplyStatus::Granted => (StatusCode::OK, None),
        ReplyStatus::Rejected(_) => (StatusCode::OK, Some("rejected")),
        ReplyStatus::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
    };
    crate::metrics::timestamp(refusal);
    reply(code, der)
}

fn rejection(failure: FailureInfo, text: &str) -> Vec<u8> {
    tsp::rejection(failure, text).unwrap_or_else(|_| tsp::SYSTEM_FAILURE_RESPONSE.to_vec())
}

fn reply(status: StatusCode, der: Vec<u8>) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static(REPLY_TYPE)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        der,
    )
        .into_response()
}
