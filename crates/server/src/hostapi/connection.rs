//! The connection loop: read, decode every complete frame, answer each in order, write the
//! answers of one read together.
//!
//! - A bad frame whose boundaries are clear gets a failure and the loop goes on; a framing
//!   error (boundaries lost) gets one failure, then the connection closes.
//! - A connection idle for `idle_timeout` is closed.
//! - When shutdown is asked for, the frame being answered is finished, its answer (and those
//!   before it) written, then the connection closes.

use std::net::SocketAddr;
use std::sync::Arc;

use sigil_proto::{Direction, FrameDecoder, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use zeroize::Zeroize;

use super::dispatch::Connection;
use crate::AppState;

/// Bytes read at once.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one Host API connection after its TLS handshake until the peer closes, it idles
/// out, a framing error ends it, or shutdown is asked for.
pub(crate) async fn serve_connection(
    state: Arc<AppState>,
    mut stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer_cn = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|der| certificate_cn(der.as_ref()));
    let idle = state.config.idle_timeout;
    let mut connection = Connection::new(state, peer, peer_cn);
    let mut decoder = FrameDecoder::new(Direction::Request);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out = Vec::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let read = tokio::select! {
            read = tokio::time::timeout(idle, stream.read(&mut buf)) => read,
            () = wait_for_shutdown(&mut shutdown) => break,
        };
        let n = match read {
            Err(_) => {
                tracing::debug!(%peer, "Host API connection idle for {idle:?}: closing");
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, "Host API read failed: {e}");
                break;
            }
            Ok(Ok(0)) => {
                // The peer closed its sending side: a partial frame is TRUNCATED_FRAME,
                // answered in case the peer still reads.
                if let Err(error) = decoder.finish() {
                    tracing::info!(%peer, "Host API connection closed inside a frame: {error}");
                    encode(
                        &error.response(),
                        error.context().correlation.as_ref(),
                        &mut out,
                    );
                    let _ = write(&mut stream, &mut out).await;
                }
                break;
            }
            Ok(Ok(n)) => n,
        };
        let mut close = false;
        {
            let mut input = buf.get(..n).unwrap_or_default();
            while let Some(decoded) = decoder.decode(&mut input) {
                match decoded {
                    Ok(frame) => {
                        let (response, correlation) = connection.handle(frame).await;
                        encode(&response, correlation.as_ref(), &mut out);
                    }
                    Err(error) => {
                        encode(
                            &error.response(),
                            error.context().correlation.as_ref(),
                            &mut out,
                        );
                        if error.is_fatal() {
                            tracing::info!(%peer, "Host API framing error, closing: {error}");
                            close = true;
                            break;
                        }
                    }
                }
                if *shutdown.borrow() {
                    close = true;
                    break;
                }
            }
        }
        // The chunk may have held a password.
        if let Some(read) = buf.get_mut(..n) {
            read.zeroize();
        }
        if write(&mut stream, &mut out).await.is_err() {
            break;
        }
        if close {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// Appends `response` to `out`; a response that cannot be encoded (over the frame limit)
/// becomes `INTERNAL`.
fn encode(
    response: &Response,
    correlation: Option<&sigil_proto::CorrelationId>,
    out: &mut Vec<u8>,
) {
    if let Err(e) = response.encode(correlation, out) {
        tracing::error!("cannot encode a Host API response: {e}");
        let fallback = Response::failure(
            response.command(),
            sigil_proto::ErrorCode::Internal,
            "the answer could not be encoded: report it, the server logged the details",
        );
        if fallback.encode(correlation, out).is_err() {
            tracing::error!("cannot encode the INTERNAL fallback response");
        }
    }
}

/// Writes and clears `out` (nothing to do when empty).
async fn write(stream: &mut TlsStream<TcpStream>, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let result = async {
        stream.write_all(out).await?;
        stream.flush().await
    }
    .await;
    out.clear();
    if let Err(e) = &result {
        tracing::debug!("Host API write failed: {e}");
    }
    result
}

/// Resolves once shutdown was asked for (or the server is gone).
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// The CN of a DER certificate's subject.
fn certificate_cn(der: &[u8]) -> Option<String> {
    use sigil_pki::x509_cert::der::Decode;
    let certificate = sigil_pki::x509_cert::Certificate::from_der(der).ok()?;
    sigil_pki::DistinguishedName::from(certificate.tbs_certificate().subject().clone())
        .common_name()
}
