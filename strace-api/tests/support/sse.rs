//! A small client for the event stream: HTTP/1.1 over a plain TCP socket
//! (the body comes in chunked transfer encoding), read a frame at a time,
//! with a read timeout; or left unread, to play a client that stopped.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    time::Duration,
};

pub struct Stream {
    reader: BufReader<TcpStream>,
    /// Body bytes read but not yet framed.
    buf: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    ended: bool,
}

/// One SSE frame: its fields (comments left out).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

impl Stream {
    /// Sends `GET path` to `base` (http://host:port) with `headers`.
    pub fn open(base: &str, path: &str, headers: &[(&str, &str)]) -> Stream {
        let addr = base.trim_start_matches("http://");
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(tcp);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = vec![];
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        Stream { reader, buf: String::new(), status, headers, ended: false }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The next chunk of the body; `None` at its end (or on a closed socket).
    fn chunk(&mut self) -> Option<String> {
        if self.ended {
            return None;
        }
        let mut size = String::new();
        if self.reader.read_line(&mut size).ok()? == 0 {
            self.ended = true;
            return None;
        }
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            self.ended = true;
            return None;
        }
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data).ok()?;
        data.truncate(size);
        Some(String::from_utf8(data).unwrap())
    }

    /// The next frame; `None` once the stream has ended.
    pub fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let text: String = self.buf.drain(..at + 2).collect();
                let mut f = Frame::default();
                let mut data = vec![];
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        f.id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        f.event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v);
                    }
                }
                if f.id.is_none() && f.event.is_none() && data.is_empty() {
                    continue; // a comment
                }
                f.data = data.join("\n");
                return Some(f);
            }
            let chunk = self.chunk()?;
            self.buf.push_str(&chunk);
        }
    }

    /// The whole rest of a plain-text body (`format=text` without SSE), up
    /// to `lines` lines.
    pub fn lines(&mut self, lines: usize) -> Vec<String> {
        while self.buf.matches('\n').count() < lines {
            match self.chunk() {
                Some(c) => self.buf.push_str(&c),
                None => break,
            }
        }
        let text = std::mem::take(&mut self.buf);
        text.lines().map(String::from).collect()
    }
}
