//! The connection loop: read, decode every complete frame, answer pipelined frames
//! concurrently, write the answers in request order.
//!
//! - Frames of one connection run concurrently, up to [`MAX_IN_FLIGHT`] at a time; while that
//!   many are read but unanswered, the loop stops reading (backpressure on the peer). Answers
//!   are written in the order of the frames, every answer ready at once in one write.
//! - The frames run inside the connection's own task, polled together by [`poll_running`],
//!   not each on a task of its own: a spawned task per frame cost a task allocation, a
//!   wake-up of another worker and a join hand-off per request (13 % of the server's CPU per
//!   P-256 request). Connections still run in parallel; a slow signature (RSA, an HSM) goes
//!   to the blocking pool inside the frame's future, so it does not hold the others up. When
//!   the connection ends with frames still running, they are finished on tasks of their own
//!   (unanswered), as before: a request stored is also signed.
//! - A frame that changes the session (`RKLO`, see [`is_barrier`]) is a barrier: it starts
//!   once every frame before it is answered, runs alone, and the frames after it start after
//!   it with its effect. The others work on a snapshot of the session.
//! - A bad frame whose boundaries are clear gets a failure (in order) and the loop goes on; a
//!   framing error (boundaries lost) gets one failure after the answers of the frames before
//!   it, then the connection closes.
//! - A connection idle for `idle_timeout` (no frame being answered, and none completed or
//!   answered since) is closed. Bytes that complete no frame do not count: a peer trickling
//!   whitespace, or a frame one byte at a time, does not keep the connection.
//! - A frame must be complete within `frame_timeout` of its first byte (`[`), however it
//!   trickles; otherwise the connection is closed.
//! - When shutdown is asked for, nothing more is read or started; the frames already started
//!   are finished, their answers (and those before them) written, then the connection closes.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sigil_proto::{CorrelationId, Direction, ErrorContext, Frame, FrameDecoder, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use zeroize::Zeroize;

use super::dispatch::{Connection, is_barrier};
use crate::AppState;

/// Bytes read at once while frames arrive.
const READ_CHUNK: usize = 16 * 1024;

/// The read buffer of a connection with nothing under way: an idle connection keeps only
/// this much (1,000 idle connections with 16 KiB each were 16 MB of the server's memory). A
/// read that fills it grows it to [`READ_CHUNK`] until the connection is idle again.
const IDLE_READ_CHUNK: usize = 1024;

/// Most frames of one connection read but not yet answered; reading pauses at this bound.
pub(crate) const MAX_IN_FLIGHT: usize = 64;

/// One answer: the response and the correlation id to echo.
type Answer = (Response, Option<CorrelationId>);

/// A decoded frame waiting to start, or a decoding failure waiting for its turn.
enum Pending {
    Frame(Frame),
    Failure { answer: Answer, fatal: bool },
}

/// A frame's answer being worked out.
type Work = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// An answer in the order of the frames: still being worked on, or ready.
enum Slot {
    /// The work, and what its failure answer echoes should it panic.
    Running(Work, ErrorContext),
    Done(Answer),
}

/// What one wait of the loop brought.
enum Event {
    Answered,
    Read(std::io::Result<usize>),
    Idle,
    FrameTooSlow,
    Shutdown,
}

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
        .and_then(|der| crate::tls::certificate_cn(der.as_ref()));
    let idle = state.config.idle_timeout;
    let frame_timeout = state.config.frame_timeout;
    // When the connection last did something (a frame completed, an answer written).
    let mut active_at = Instant::now();
    // When the partial frame the decoder holds began, if it holds one.
    let mut frame_started: Option<Instant> = None;
    let mut connection = Arc::new(Connection::new(state, peer, peer_cn));
    let mut decoder = FrameDecoder::new(Direction::Request);
    let mut buf = vec![0u8; IDLE_READ_CHUNK];
    let mut out = Vec::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut slots: VecDeque<Slot> = VecDeque::new();
    // The peer closed its side (or reading failed): answer what was read, then close.
    let mut peer_done = false;
    // A framing error or shutdown: read and start nothing more, finish what started.
    let mut closing = false;
    loop {
        // Start what may start, collect what is answered at the front, and again while
        // answers free room (or let a waiting barrier start).
        loop {
            // Start what may start, in order.
            while !closing && slots.len() < MAX_IN_FLIGHT {
                if *shutdown.borrow() {
                    closing = true;
                    break;
                }
                let Some(item) = pending.pop_front() else {
                    break;
                };
                match item {
                    Pending::Frame(frame) if is_barrier(&frame) => {
                        if !slots.is_empty() {
                            pending.push_front(Pending::Frame(frame));
                            break;
                        }
                        // Every frame before it is answered: run it alone, on the session itself
                        // (copied first if an earlier frame's task still holds it).
                        // Boxed: inline, a login's future made every connection's state
                        // machine that much larger for as long as it lives.
                        let barrier = Arc::make_mut(&mut connection).handle_barrier(frame);
                        let answer = Box::pin(barrier).await;
                        slots.push_back(Slot::Done(answer));
                    }
                    Pending::Frame(frame) => {
                        let context = frame.context();
                        let connection = connection.clone();
                        let work: Work = Box::pin(async move { connection.handle(frame).await });
                        slots.push_back(Slot::Running(work, context));
                    }
                    Pending::Failure { answer, fatal } => {
                        slots.push_back(Slot::Done(answer));
                        if fatal {
                            closing = true;
                        }
                    }
                }
            }
            if closing {
                // Frames after a framing error or read after shutdown are never answered.
                pending.clear();
            }
            // Everything answered at the front goes out, in order.
            let running_before = slots.len();
            while let Some(slot) = slots.pop_front() {
                match slot {
                    Slot::Done(answer) => encode(&answer.0, answer.1.as_ref(), &mut out),
                    running => {
                        slots.push_front(running);
                        break;
                    }
                }
            }
            let freed = slots.len() < running_before;
            if !freed || pending.is_empty() || closing {
                break;
            }
        }
        if !out.is_empty() {
            active_at = Instant::now();
        }
        if write(&mut stream, &mut out).await.is_err() {
            break;
        }
        let nothing_left = slots.is_empty() && pending.is_empty();
        if (closing || peer_done) && nothing_left {
            break;
        }
        if nothing_left && !decoder.in_frame() && buf.len() > IDLE_READ_CHUNK {
            buf = vec![0u8; IDLE_READ_CHUNK];
        }
        let can_read = !closing && !peer_done && slots.len() + pending.len() < MAX_IN_FLIGHT;
        // A partial frame has its own deadline; otherwise an idle connection has one.
        let deadline = match frame_started {
            Some(started) => Some((started + frame_timeout, Event::FrameTooSlow)),
            None if nothing_left => Some((active_at + idle, Event::Idle)),
            None => None,
        };
        let (deadline, expired) = match deadline {
            Some((at, event)) => (Some(at), Some(event)),
            None => (None, None),
        };
        let event = tokio::select! {
            () = std::future::poll_fn(|cx| poll_running(&mut slots, cx)), if !slots.is_empty() => {
                Event::Answered
            }
            read = read_some(&mut stream, &mut buf, deadline), if can_read => {
                match read {
                    Some(read) => Event::Read(read),
                    None => expired.unwrap_or(Event::Idle),
                }
            }
            () = wait_for_shutdown(&mut shutdown), if !closing => Event::Shutdown,
            // Not reached (something is always running, readable or awaited), but never spin.
            else => break,
        };
        match event {
            // Collected (with every other answer ready) at the top of the loop.
            Event::Answered => {}
            Event::Shutdown => closing = true,
            Event::Idle => {
                tracing::debug!(%peer, "Host API connection idle for {idle:?}: closing");
                break;
            }
            Event::FrameTooSlow => {
                tracing::info!(
                    %peer,
                    "Host API frame not complete {frame_timeout:?} after its first byte: closing"
                );
                break;
            }
            Event::Read(Err(e)) => {
                tracing::debug!(%peer, "Host API read failed: {e}");
                peer_done = true;
            }
            Event::Read(Ok(0)) => {
                // The peer closed its sending side: a partial frame is TRUNCATED_FRAME,
                // answered (after the frames before it) in case the peer still reads.
                if let Err(error) = decoder.finish() {
                    tracing::info!(%peer, "Host API connection closed inside a frame: {error}");
                    pending.push_back(Pending::Failure {
                        answer: (error.response(), error.context().correlation.clone()),
                        fatal: true,
                    });
                }
                peer_done = true;
            }
            Event::Read(Ok(n)) => {
                let now = Instant::now();
                let mut input = buf.get(..n).unwrap_or_default();
                while let Some(decoded) = decoder.decode(&mut input) {
                    // A frame ended (well-formed or not): the next one starts its own clock.
                    active_at = now;
                    frame_started = None;
                    match decoded {
                        Ok(frame) => pending.push_back(Pending::Frame(frame)),
                        Err(error) => {
                            let fatal = error.is_fatal();
                            pending.push_back(Pending::Failure {
                                answer: (error.response(), error.context().correlation.clone()),
                                fatal,
                            });
                            if fatal {
                                tracing::info!(%peer, "Host API framing error, closing: {error}");
                                break;
                            }
                        }
                    }
                }
                if decoder.in_frame() {
                    frame_started.get_or_insert(now);
                } else {
                    frame_started = None;
                }
                // The chunk may have held a password.
                if let Some(read) = buf.get_mut(..n) {
                    read.zeroize();
                }
                if n == buf.len() && buf.len() < READ_CHUNK {
                    buf.resize(READ_CHUNK, 0);
                }
            }
        }
    }
    // Frames started but not answered (the peer left, a write failed) still finish.
    for slot in slots {
        if let Slot::Running(work, _) = slot {
            tokio::spawn(work);
        }
    }
    let _ = stream.shutdown().await;
}

/// Polls every running frame once; those done become [`Slot::Done`]. Ready when the first
/// slot is done (its answer, and any after it that are done, can go out).
fn poll_running(slots: &mut VecDeque<Slot>, cx: &mut Context<'_>) -> Poll<()> {
    for slot in slots.iter_mut() {
        if let Slot::Running(work, context) = slot
            && let Poll::Ready(answer) = poll_work(work, context, cx)
        {
            *slot = Slot::Done(answer);
        }
    }
    match slots.front() {
        Some(Slot::Done(_)) => Poll::Ready(()),
        _ => Poll::Pending,
    }
}

/// Polls one frame's work; work that panicked answers `INTERNAL` for its frame (the panic
/// ends that frame only, as a failed task did, not the connection).
fn poll_work(work: &mut Work, context: &ErrorContext, cx: &mut Context<'_>) -> Poll<Answer> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
        Ok(poll) => poll,
        Err(_) => {
            tracing::error!("a Host API command failed inside the server (panic)");
            Poll::Ready((
                context.failure(
                    sigil_proto::ErrorCode::Internal,
                    "the command failed inside the server: report it, the server logged the details",
                ),
                context.correlation.clone(),
            ))
        }
    }
}

/// One read; `None` when `deadline` is given and passes first.
async fn read_some(
    stream: &mut TlsStream<TcpStream>,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> Option<std::io::Result<usize>> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, stream.read(buf)).await.ok(),
        None => Some(stream.read(buf).await),
    }
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
