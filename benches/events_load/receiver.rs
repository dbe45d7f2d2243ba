//! A minimal HTTP/1.1 webhook receiver for the events load bench. It stands for an endpoint
//! on another machine but shares two cores with the server it measures, so, like the load
//! client, it does as little as it can: requests framed by `Content-Length`, every complete
//! request in a read answered `204` in one write, nothing parsed beyond the request line.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Called with each request's path and body; `false` answers 400.
pub type OnEvent = Arc<dyn Fn(&str, &[u8]) -> bool + Send + Sync>;

pub async fn serve(listener: TcpListener, on_event: OnEvent) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let on_event = on_event.clone();
        tokio::spawn(async move {
            let _ = connection(stream, on_event).await;
        });
    }
}

async fn connection(mut stream: TcpStream, on_event: OnEvent) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut out = Vec::with_capacity(1024);
    loop {
        while let Some((consumed, ok)) = request(&buf, &on_event)? {
            out.extend_from_slice(if ok {
                b"HTTP/1.1 204 No Content\r\n\r\n".as_slice()
            } else {
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".as_slice()
            });
            buf.drain(..consumed);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Handles the first request in `buf` if it is complete: (bytes it took, accepted).
fn request(buf: &[u8], on_event: &OnEvent) -> io::Result<Option<(usize, bool)>> {
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| invalid("head not UTF-8"))?;
    let path = head.split(' ').nth(1).ok_or_else(|| invalid("no path"))?;
    let mut length = 0;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("bad Content-Length"))?;
            }
        }
    }
    let end = head_len + 4 + length;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((end, on_event(path, &buf[head_len + 4..end]))))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}
