//! Socket addresses as strace prints them, e.g.
//! `{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}`.
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use super::{flags, quote};

/// strace-style text and a JSON object for the raw `struct sockaddr` bytes.
pub fn decode(bytes: &[u8]) -> (String, Value) {
    let Some(family) = bytes.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]])) else {
        return ("{}".into(), json!({}));
    };
    let fam_name = flags::name(family as u64, flags::DOMAINS).map_or_else(|| family.to_string(), str::to_string);
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    match family as i32 {
        libc::AF_INET if bytes.len() >= 8 => {
            let addr = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            let p = port(bytes);
            let text = format!("{{sa_family=AF_INET, sin_port=htons({p}), sin_addr=inet_addr(\"{addr}\")}}");
            (text, json!({"family": "AF_INET", "port": p, "addr": addr.to_string()}))
        }
        libc::AF_INET6 if bytes.len() >= 24 => {
            let p = port(bytes);
            let flow = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes[8..24]);
            let addr = Ipv6Addr::from(a);
            let scope = bytes.get(24..28).map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
            let text = format!(
                "{{sa_family=AF_INET6, sin6_port=htons({p}), sin6_flowinfo=htonl({flow}), inet_pton(AF_INET6, \"{addr}\", &sin6_addr), sin6_scope_id={scope}}}"
            );
            (text, json!({"family": "AF_INET6", "port": p, "addr": addr.to_string(), "scope_id": scope}))
        }
        libc::AF_UNIX => {
            let path = &bytes[2.min(bytes.len())..];
            if path.first() == Some(&0) && path.len() > 1 {
                // Abstract socket: strace prints @ and the name.
                let name = &path[1..];
                let text = format!("{{sa_family=AF_UNIX, sun_path=@{}}}", quote(name, false));
                let shown = crate::redact::bytes(name);
                (text, json!({"family": "AF_UNIX", "path": format!("@{}", String::from_utf8_lossy(&shown))}))
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                let text = format!("{{sa_family=AF_UNIX, sun_path={}}}", quote(&path[..end], false));
                let shown = crate::redact::bytes(&path[..end]);
                (text, json!({"family": "AF_UNIX", "path": String::from_utf8_lossy(&shown)}))
            }
        }
        _ => {
            let data = &bytes[2.min(bytes.len())..];
            (format!("{{sa_family={fam_name}, sa_data={}}}", quote(data, false)), json!({"family": fam_name}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0; 8]);
        b
    }

    #[test]
    fn inet_like_strace() {
        let (text, json) = decode(&inet(80, [127, 0, 0, 1]));
        assert_eq!(text, r#"{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}"#);
        assert_eq!(json, json!({"family": "AF_INET", "port": 80, "addr": "127.0.0.1"}));
    }

    #[test]
    fn inet6_and_unix() {
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(443u16.to_be_bytes());
        b.extend([0; 4]);
        b.extend(Ipv6Addr::LOCALHOST.octets());
        b.extend([0; 4]);
        assert_eq!(
            decode(&b).0,
            r#"{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}"#
        );
        let mut u = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        u.extend(b"/run/x.sock\0\0\0");
        assert_eq!(decode(&u).0, r#"{sa_family=AF_UNIX, sun_path="/run/x.sock"}"#);
        let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        a.extend(b"\0abstract");
        assert_eq!(decode(&a).0, r#"{sa_family=AF_UNIX, sun_path=@"abstract"}"#);
        assert_eq!(decode(&[1]).0, "{}");
    }
}
