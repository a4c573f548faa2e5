//! Refusals of the HTTP layer itself in the documented JSON shape.
//!
//! hyper answers a request it cannot parse (a bad request line or header, a head over its
//! limits: `400`, `414`, `431`) on its own, before any handler runs, with a status line and no
//! body. Every other refusal of the API is `{"error_code", "message"}` JSON, so the listener
//! wraps each connection: a response head that hyper writes with an error status, no
//! `Content-Type` and no body is rewritten, as it goes out, into the same head with a JSON
//! body. Responses of the API always carry a body and a type when they are errors (the
//! `json_errors` middleware sees to it), so only hyper's own refusals match.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use strata_core::api::{ApiError, codes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection that rewrites hyper's bodiless error heads (see the module's text).
pub struct JsonErrorsIo<T> {
    inner: T,
    /// A rewritten head being written: its bytes, how many went out, and the length of the
    /// caller's buffer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrorsIo<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// The JSON response that stands for a bodiless error head, or `None` when `head` is not one.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap checks first: every write of every response passes here.
    if head.len() > 4096
        || !head.starts_with(b"HTTP/1.")
        || !matches!(head.get(9), Some(b'4' | b'5'))
        || !head.ends_with(b"\r\n\r\n")
    {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let head_text = text.strip_suffix("\r\n\r\n")?;
    if head_text.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    if status < 400 {
        return None;
    }
    let reason = parts.next().unwrap_or("");
    let mut kept = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-type" | "transfer-encoding" => return None,
            "content-length" if value.trim() != "0" => return None,
            "content-length" => {}
            _ => kept.push(line),
        }
    }
    let message = match status {
        400 => "the request is not valid HTTP/1.1: its request line or a header could not be parsed".to_string(),
        414 => "the request's URI is too long for this node".to_string(),
        431 => "the request's header section is too large for this node (too many headers or too many bytes); send fewer or smaller headers".to_string(),
        _ => format!("HTTP {status} {reason}"),
    };
    let body =
        serde_json::to_vec(&ApiError::new(status, codes::for_status(status), message)).ok()?;
    let mut out = Vec::with_capacity(head.len() + body.len() + 64);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for line in kept {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

impl<T: AsyncWrite + Unpin> JsonErrorsIo<T> {
    /// Writes what is pending; `Ready(Ok(n))` with the caller's length once all went out.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, stands_for)) = &mut self.pending {
            if *written == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorsIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorsIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => self.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.drive(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_none() {
            let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
            let only = match (non_empty.next(), non_empty.next()) {
                (Some(first), None) => rewrite(first).map(|b| (b, first.len())),
                _ => None,
            };
            match only {
                Some((bytes, len)) => self.pending = Some((bytes, 0, len)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.drive(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
