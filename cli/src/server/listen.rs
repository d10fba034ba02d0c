//! Accepting the public port's connections: at most `max_connections` open at once (one more is
//! answered a JSON 503 and closed), HTTP/1.1 with a header-read timeout that also closes idle
//! keep-alive connections, and hyper's own answers to requests it cannot parse (400, 414, 431,
//! written before any handler runs) given the API's JSON error body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tower::ServiceExt;

use super::limits::ConnectionLimits;

/// Serves `router` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, or a connection that died in the backlog: go on.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Every frame and answer is written whole: none should wait for the previous one's ACK.
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        // The peer's address on each request (as axum's ConnectInfo), without re-layering the router.
        let router = router.clone().map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        tokio::spawn(async move {
            let io = TokioIo::new(Connection::new(stream, permit, limits.write_stall_timeout));
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, TowerToHyperService::new(router))
                .with_upgrades()
                .await;
            if let Err(err) = served {
                tracing::debug!(error = %err, %peer, "connection ended");
            }
        });
    }
}

/// One connection too many: a 503 in the API's error shape, then the connection is closed.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = serde_json::json!({"message": format!("Too many open connections (at most {max}); try again shortly.")})
        .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent before closing: closing with unread data resets the
        // connection, and a reset can destroy the answer before the client reads it.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), answer).await;
}

/// A connection: its slot under the cap (held while it is open, through a WebSocket upgrade too),
/// a bound on how long a write may stall (a peer that stops reading), and the rewrite of hyper's
/// bodiless error answers.
struct Connection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Bytes still to write: a rewritten error answer.
    pending: Vec<u8>,
    /// After a 101 the bytes are WebSocket frames: nothing more to inspect.
    upgraded: bool,
    stall_timeout: Duration,
    /// Armed while a write waits for the peer.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Connection {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, stall_timeout: Duration) -> Self {
        Connection { stream, _permit: permit, pending: Vec::new(), upgraded: false, stall_timeout, stalled: None }
    }

    /// A write's progress: a write that stays pending for `stall_timeout` fails, which ends the
    /// connection (or the WebSocket writing to it).
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.stall_timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let poll = Pin::new(&mut self.stream).poll_write(cx, &self.pending);
            let written = ready!(self.watch(cx, poll))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if !self.upgraded {
            self.upgraded = buf.starts_with(b"HTTP/1.1 101 ");
            if let Some(answer) = json_error_answer(buf) {
                self.pending = answer;
                // Taken whole; what the socket does not take now goes out on flush.
                if let Poll::Ready(Err(err)) = self.drain(cx) {
                    return Poll::Ready(Err(err));
                }
                return Poll::Ready(Ok(buf.len()));
            }
        }
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// hyper answers a request it cannot parse itself, with an empty body: `HTTP/1.1 {400|414|431} …`,
/// `connection: close`, `content-length: 0`, in one write of a few hundred bytes (this IO is not
/// vectored). Every answer of ours has a body (`charger::rejected` for refused handshakes), so such
/// a head is hyper's, and gets a JSON body.
fn json_error_answer(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(b"HTTP/1.1 4") || head.len() > 1_024 {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let message = match status {
        "400" => "The request could not be read as HTTP.",
        "414" => "The request URI is too long.",
        "431" => "The request's header fields are too large.",
        _ => return None,
    };
    let lower = text.to_ascii_lowercase();
    if !text.ends_with("\r\n\r\n") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let reason = text.lines().next()?.strip_prefix("HTTP/1.1 ")?;
    let body = serde_json::json!({ "message": message }).to_string();
    Some(
        format!(
            "HTTP/1.1 {reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\
                     date: Thu, 26 Nov 2026 10:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_error_answer(head).unwrap()).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n")
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(body, r#"{"message":"The request's header fields are too large."}"#);
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn other_answers_pass_untouched() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert!(json_error_answer(ours).is_none());
        let created = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
        assert!(json_error_answer(created).is_none());
        let unauthorized = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
        assert!(json_error_answer(unauthorized).is_none());
        assert!(json_error_answer(b"\x16\x03\x01").is_none());
    }
}
