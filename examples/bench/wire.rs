//! The closed loop's client: one keep-alive HTTP/1.1 connection per client, each request
//! written whole in one `write` and its answer read by its `Content-Length` (or its chunks).
//! What the load costs this driver is then small beside the server's, as pgbench's C client
//! is beside Postgres: on two shared cores, every microsecond the driver spends is one the
//! server under test does not get (reqwest, the client before, spent 0.1-0.2 ms of CPU per
//! request).

use std::fmt::Write as _;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::load::Req;

/// A connection to one server, opened on first use and again after the server closes it.
pub struct Conn {
    stream: Option<TcpStream>,
    /// Bytes read past the last answer's end (none, as each request awaits its answer).
    buf: Vec<u8>,
    out: String,
}

/// An answer: the status and, when asked for, the body.
pub struct Answer {
    pub status: u16,
    pub body: Option<Vec<u8>>,
}

/// `http://host:port/path` split into its authority and path.
fn split(url: &str) -> std::io::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs"))?;
    Ok(rest.split_at(rest.find('/').unwrap_or(rest.len())))
}

impl Conn {
    pub fn new() -> Self {
        Conn {
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            out: String::with_capacity(4 * 1024),
        }
    }

    /// Sends `req` and reads its answer. On an error the connection is dropped, so the next
    /// request opens a new one.
    pub async fn send(&mut self, req: &Req, keep_body: bool) -> std::io::Result<Answer> {
        let result = self.exchange(req, keep_body).await;
        if result.is_err() {
            self.stream = None;
            self.buf.clear();
        }
        result
    }

    async fn exchange(&mut self, req: &Req, keep_body: bool) -> std::io::Result<Answer> {
        let (host, path) = split(&req.url)?;
        if self.stream.is_none() {
            let stream = TcpStream::connect(host).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        self.out.clear();
        let _ = write!(
            self.out,
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            req.body.len()
        );
        for (k, v) in &req.headers {
            let _ = write!(self.out, "{k}: {v}\r\n");
        }
        self.out.push_str("\r\n");
        self.out.push_str(&req.body);
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(self.out.as_bytes()).await?;
        let (status, head_len, framing, close) = read_head(stream, &mut self.buf).await?;
        let body = read_body(stream, &mut self.buf, head_len, framing).await?;
        if close {
            self.stream = None;
        }
        Ok(Answer {
            status,
            body: keep_body.then_some(body),
        })
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8 * 1024];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads until the head's end: the status, the head's length, how the body is framed and
/// whether the server closes the connection after it.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, usize, Framing, bool)> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
    let bad = || std::io::Error::other("malformed answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let mut framing = Framing::Length(0);
    let mut close = false;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(value.parse().map_err(|_| bad())?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    Ok((status, end, framing, close))
}

/// Reads the body after a head of `head_len` bytes, leaving `buf` empty.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_len: usize,
    framing: Framing,
) -> std::io::Result<Vec<u8>> {
    buf.drain(..head_len);
    let body = match framing {
        Framing::Length(n) => {
            while buf.len() < n {
                fill(stream, buf).await?;
            }
            buf.drain(..n).collect()
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    fill(stream, buf).await?;
                };
                let size = std::str::from_utf8(&buf[..line_end])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .ok_or_else(|| std::io::Error::other("malformed chunk"))?;
                while buf.len() < line_end + 2 + size + 2 {
                    fill(stream, buf).await?;
                }
                body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
                buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break body;
                }
            }
        }
    };
    buf.clear();
    Ok(body)
}
