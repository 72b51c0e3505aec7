//! The crate's one error type.
use std::fmt;

/// What can go wrong when persisting or loading a dataset.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    Io(std::io::Error),
    /// An RDB file or `DUMP` payload is malformed; the text says where.
    Corrupt(String),
    /// The file holds something kvd cannot represent (a module value, a stream, ...).
    Unsupported(String),
    /// A save is already running.
    InProgress,
    /// A background save cannot start while an append-only log rewrite runs.
    RewriteInProgress,
    /// The shard workers have stopped.
    Stopped,
    /// The append-only log cannot be loaded or written; the text is Redis's message.
    Aof(String),
    /// A background save was superseded (a `FLUSHALL` saved the empty dataset meanwhile).
    Aborted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Corrupt(what) => write!(f, "corrupt rdb data: {what}"),
            Error::Unsupported(what) => write!(f, "unsupported rdb content: {what}"),
            Error::InProgress => write!(f, "a save is already in progress"),
            Error::RewriteInProgress => write!(f, "an append-only log rewrite is in progress"),
            Error::Stopped => write!(f, "the shard workers have stopped"),
            Error::Aof(what) => f.write_str(what),
            Error::Aborted => write!(f, "the save was superseded by a flush"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}
