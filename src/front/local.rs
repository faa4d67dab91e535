//! `wake-front serve`: the front over plain HTTP on a local port, for previews, the demo and the
//! browser tests. Each request becomes what API Gateway would pass (the app name from `--name`,
//! the TCP peer as the source address) and goes through the same [`Front::handle`]. One request
//! per connection; not for production (API Gateway is the production front door).

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Answer, Front, Incoming};

const MAX_HEAD: usize = 16 * 1024;

/// Serves until the process ends.
pub async fn serve(front: Arc<Front>, listener: TcpListener, name: String) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let front = front.clone();
        let name = name.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(&front, stream, peer, &name).await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

async fn connection(
    front: &Front,
    mut stream: TcpStream,
    peer: SocketAddr,
    name: &str,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > MAX_HEAD {
            return write(&mut stream, &plain(431, "request head too large"), false).await;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return write(&mut stream, &plain(400, "bad request line"), false).await;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return write(&mut stream, &plain(400, "bad method"), false).await;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > super::MAX_BODY {
        return write(&mut stream, &plain(413, "body too large"), false).await;
    }
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let head_only = method == Method::HEAD;
    // The browser's origin is this local address, not the app's https name.
    let origin = match headers.get("host").and_then(|h| h.to_str().ok()) {
        Some(h) => format!("http://{h}"),
        None => String::new(),
    };
    let incoming = Incoming {
        method,
        path: path.to_string(),
        query: query.to_string(),
        host: name.to_string(),
        source_ip: Some(peer.ip()),
        origin,
        headers,
        body,
    };
    let answer = front.handle(&incoming, chrono::Utc::now()).await;
    write(&mut stream, &answer, head_only).await
}

fn plain(status: u16, text: &str) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "text/plain".into())],
        body: text.to_string(),
    }
}

async fn write(stream: &mut TcpStream, answer: &Answer, head_only: bool) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
    for (k, v) in &answer.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        answer.body.len()
    ));
    stream.write_all(out.as_bytes()).await?;
    if !head_only {
        stream.write_all(answer.body.as_bytes()).await?;
    }
    stream.shutdown().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        303 => "See Other",
        400 => "Bad Request",
        403 => "Forbidden",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}
