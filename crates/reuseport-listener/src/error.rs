//! The crate's one error type.
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why binding the listeners or starting their accept threads failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ListenError {
    /// Another socket already listens on the address (another kvd, a Redis, anything).
    AddrInUse {
        /// The address that was asked for.
        addr: SocketAddr,
    },
    /// The IP address does not belong to any interface of this machine.
    AddrNotAvailable {
        /// The address that was asked for.
        addr: SocketAddr,
    },
    /// The process may not bind the address (a port below 1024 without the capability).
    PermissionDenied {
        /// The address that was asked for.
        addr: SocketAddr,
    },
    /// A listener count of zero was asked for.
    NoListeners,
    /// Any other failure of a socket call, named by the call.
    Io {
        /// The socket call that failed, e.g. `"bind"` or `"listen on"`.
        op: &'static str,
        /// The address that was asked for.
        addr: SocketAddr,
        /// The error the operating system returned.
        source: io::Error,
    },
    /// An accept thread or its poller could not be started.
    Spawn {
        /// The error the operating system returned.
        source: io::Error,
    },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::AddrInUse { addr } => write!(f, "address {addr} is already in use"),
            ListenError::AddrNotAvailable { addr } => {
                write!(f, "address {addr} is not available on this machine")
            }
            ListenError::PermissionDenied { addr } => {
                write!(f, "permission denied to listen on {addr}")
            }
            ListenError::NoListeners => write!(f, "at least one listener is needed"),
            ListenError::Io { op, addr, source } => write!(f, "cannot {op} {addr}: {source}"),
            ListenError::Spawn { source } => write!(f, "cannot start an accept thread: {source}"),
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenError::Io { source, .. } | ListenError::Spawn { source } => Some(source),
            _ => None,
        }
    }
}

impl ListenError {
    /// Classifies a failed `bind`: the common causes get their own variant so callers (and
    /// people reading a startup error) need not decode errno values.
    pub(crate) fn from_bind(addr: SocketAddr, source: io::Error) -> ListenError {
        match source.kind() {
            io::ErrorKind::AddrInUse => ListenError::AddrInUse { addr },
            io::ErrorKind::AddrNotAvailable => ListenError::AddrNotAvailable { addr },
            io::ErrorKind::PermissionDenied => ListenError::PermissionDenied { addr },
            _ => ListenError::Io {
                op: "bind",
                addr,
                source,
            },
        }
    }
}
