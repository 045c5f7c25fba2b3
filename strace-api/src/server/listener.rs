//! Where the server listens: a TCP address or a Unix socket file, and what
//! is known of each peer.
use std::{
    fmt, io,
    net::SocketAddr,
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::Peer;

/// `--listen`: `host:port`, or `unix:/path/to/socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    /// Reachable from this host only: a loopback address or a socket file.
    pub fn is_local(&self) -> bool {
        match self {
            Listen::Tcp(addr) => addr.ip().is_loopback(),
            Listen::Unix(_) => true,
        }
    }
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("a Unix socket is written unix:/path/to/socket".into());
            }
            if !path.starts_with('/') {
                return Err(format!("the Unix socket's path must be absolute, not {path:?}"));
            }
            return Ok(Listen::Unix(path.into()));
        }
        s.parse().map(Listen::Tcp).map_err(|_| {
            format!("{s:?} is neither host:port (an IP address and a port: 127.0.0.1:8080) nor unix:/path/to/socket")
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listener.
pub(super) enum Listener {
    Tcp(TcpListener),
    /// `id` (device, inode) tells the file this daemon made from one that
    /// replaced it: only its own is removed at exit.
    Unix {
        listener: UnixListener,
        path: PathBuf,
        id: (u64, u64),
    },
}

/// An accepted connection, before TLS.
pub(super) enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    pub async fn bind(listen: &Listen, mode: u32, group: Option<&str>) -> anyhow::Result<Listener> {
        match listen {
            Listen::Tcp(addr) => {
                let l = bind_tcp(*addr).with_context(|| format!("could not listen on {addr}"))?;
                Ok(Listener::Tcp(l))
            }
            Listen::Unix(path) => {
                let gid = group.map(group_id).transpose()?;
                let listener = bind_unix(path, mode, gid)
                    .with_context(|| format!("could not listen on unix:{}", path.display()))?;
                let meta = std::fs::metadata(path)?;
                Ok(Listener::Unix { listener, path: path.clone(), id: (meta.dev(), meta.ino()) })
            }
        }
    }

    pub async fn accept(&self) -> io::Result<(Accepted, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                // Responses are written whole; don't hold their last segment back.
                let _ = stream.set_nodelay(true);
                Ok((Accepted::Tcp(stream), Peer::Tcp(addr)))
            }
            Listener::Unix { listener, .. } => {
                let (stream, _) = listener.accept().await?;
                let cred = stream.peer_cred()?;
                Ok((Accepted::Unix(stream), Peer::Unix { uid: cred.uid(), gid: cred.gid(), pid: cred.pid() }))
            }
        }
    }

    /// `http://127.0.0.1:8080`, `https://…` or `unix:/path`.
    pub fn describe(&self, tls: bool) -> String {
        match self {
            Listener::Tcp(l) => {
                let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_else(|e| format!("? ({e})"));
                format!("{}://{addr}", if tls { "https" } else { "http" })
            }
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    /// Stops listening; a socket file this daemon made is removed.
    pub fn close(self) {
        if let Listener::Unix { listener, path, id } = self {
            drop(listener);
            let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == id);
            if ours && let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!("cannot remove the socket file {}: {e}", path.display());
            }
        }
    }
}

/// Connections the kernel queues until they are accepted (it caps this at
/// `net.core.somaxconn`). A burst of connections beyond the queue has the
/// kernel drop SYNs, and a client retries a second later: a legitimate
/// client arriving in a flood would wait that second, so the queue is long
/// (tokio's `TcpListener::bind` makes it 128).
const BACKLOG: u32 = 4096;

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind`: a restarted daemon rebinds its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Binds, sets the file's mode and group, then listens: until `listen(2)` a
/// connection is refused, so no one gets in through the umask's mode.
fn bind_unix(path: &Path, mode: u32, gid: Option<u32>) -> anyhow::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => anyhow::bail!("another process is listening on it"),
            // A stale socket left by a daemon that was killed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).context("removing the stale socket file")?
            }
            // Refused by a seccomp profile, say: whether it is stale is unknown.
            Err(e) => anyhow::bail!("it exists, and whether a process listens on it is unknown ({e}); remove it"),
        },
        Ok(_) => anyhow::bail!("{} exists and is not a socket", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    let ready = (|| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).context("setting its mode")?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid)).context("setting its group")?;
        }
        socket.listen(BACKLOG as i32)?;
        socket.set_nonblocking(true)?;
        anyhow::Ok(())
    })();
    if let Err(e) = ready {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(UnixListener::from_std(std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(socket)))?)
}

/// A group's id from its name or number.
fn group_id(group: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(group).context("a group name holds no NUL")?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero bytes are a valid `group` (null pointers, zero ids).
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives it and its
    // length is passed.
    let rc = unsafe { libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 {
        anyhow::bail!("cannot look up the group {group:?}: {}", io::Error::from_raw_os_error(rc));
    }
    if found.is_null() {
        anyhow::bail!("there is no group {group:?} (--listen-group)");
    }
    Ok(grp.gr_gid)
}
