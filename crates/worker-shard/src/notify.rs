//! Keyspace notifications: Redis's `notify-keyspace-events` classes, the pool-wide flags word,
//! and the per-shard buffer of events delivered through Pub/Sub once per worker pass.
//!
//! Commands report what they did with `Shard::notify(db, class, event, key)`; with
//! notifications off that is one comparison of a plain field (the flags word is loaded once
//! per batch, in `Shard::tick`). Events are buffered per shard and handed to the pool's
//! [`EventSink`] as one `Vec` per pass, which the IO layer fans out to subscribers.
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};

/// A set of `notify-keyspace-events` classes, as Redis's `NOTIFY_*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyClass(pub u32);

impl NotifyClass {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: NotifyClass = NotifyClass(1 << 0);
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: NotifyClass = NotifyClass(1 << 1);
    /// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, ...).
    pub const GENERIC: NotifyClass = NotifyClass(1 << 2);
    /// `$`: string commands.
    pub const STRING: NotifyClass = NotifyClass(1 << 3);
    /// `l`: list commands.
    pub const LIST: NotifyClass = NotifyClass(1 << 4);
    /// `s`: set commands.
    pub const SET: NotifyClass = NotifyClass(1 << 5);
    /// `h`: hash commands.
    pub const HASH: NotifyClass = NotifyClass(1 << 6);
    /// `z`: sorted set commands.
    pub const ZSET: NotifyClass = NotifyClass(1 << 7);
    /// `x`: a key expired (lazily or by active expiry).
    pub const EXPIRED: NotifyClass = NotifyClass(1 << 8);
    /// `e`: a key was evicted for `maxmemory`.
    pub const EVICTED: NotifyClass = NotifyClass(1 << 9);
    /// `t`: stream commands.
    pub const STREAM: NotifyClass = NotifyClass(1 << 10);
    /// `m`: a key miss (not part of `A`).
    pub const KEY_MISS: NotifyClass = NotifyClass(1 << 11);
    /// `d`: module events.
    pub const MODULE: NotifyClass = NotifyClass(1 << 13);
    /// `n`: a new key was created (not part of `A`).
    pub const NEW: NotifyClass = NotifyClass(1 << 14);
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: NotifyClass = NotifyClass(
        Self::GENERIC.0
            | Self::STRING.0
            | Self::LIST.0
            | Self::SET.0
            | Self::HASH.0
            | Self::ZSET.0
            | Self::EXPIRED.0
            | Self::EVICTED.0
            | Self::STREAM.0
            | Self::MODULE.0,
    );

    /// Parses a `notify-keyspace-events` value as Redis's `keyspaceEventsStringToFlags`;
    /// `None` for a character that names no class.
    pub fn parse(s: &str) -> Option<NotifyClass> {
        let mut flags = 0;
        for c in s.chars() {
            flags |= match c {
                'A' => Self::ALL.0,
                'g' => Self::GENERIC.0,
                '$' => Self::STRING.0,
                'l' => Self::LIST.0,
                's' => Self::SET.0,
                'h' => Self::HASH.0,
                'z' => Self::ZSET.0,
                'x' => Self::EXPIRED.0,
                'e' => Self::EVICTED.0,
                'K' => Self::KEYSPACE.0,
                'E' => Self::KEYEVENT.0,
                't' => Self::STREAM.0,
                'm' => Self::KEY_MISS.0,
                'd' => Self::MODULE.0,
                'n' => Self::NEW.0,
                _ => return None,
            };
        }
        Some(NotifyClass(flags))
    }

    /// Whether any class of `other` is in `self`.
    pub fn intersects(self, other: NotifyClass) -> bool {
        self.0 & other.0 != 0
    }
}

/// Formats as Redis's `keyspaceEventsFlagsToString` (what `CONFIG GET` shows).
impl fmt::Display for NotifyClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has = |c: NotifyClass| self.0 & c.0 == c.0;
        if has(Self::ALL) {
            f.write_str("A")?;
        } else {
            for (class, c) in [
                (Self::GENERIC, 'g'),
                (Self::STRING, '$'),
                (Self::LIST, 'l'),
                (Self::SET, 's'),
                (Self::HASH, 'h'),
                (Self::ZSET, 'z'),
                (Self::EXPIRED, 'x'),
                (Self::EVICTED, 'e'),
                (Self::STREAM, 't'),
                (Self::MODULE, 'd'),
            ] {
                if has(class) {
                    write!(f, "{c}")?;
                }
            }
        }
        for (class, c) in [
            (Self::KEYSPACE, 'K'),
            (Self::KEYEVENT, 'E'),
            (Self::KEY_MISS, 'm'),
            (Self::NEW, 'n'),
        ] {
            if has(class) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One Pub/Sub message: a channel and its payload.
pub type Message = (Bytes, Bytes);

/// Where workers publish keyspace notifications: implemented by the IO layer, which delivers
/// each message to the subscribers of its channel (and matching patterns) on every IO thread.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Publishes a batch of messages, in order.
    fn publish(&self, messages: Vec<Message>);
}

/// The notification settings shared by every worker of a pool.
#[derive(Debug, Default)]
pub(crate) struct NotifyShared {
    pub(crate) flags: AtomicU32,
    pub(crate) sink: OnceLock<Arc<dyn EventSink>>,
}

/// A shard's view of notifications: the flags of this batch and the events of this pass.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    pub(crate) shared: Arc<NotifyShared>,
    /// The flags as loaded at the start of the batch.
    pub(crate) flags: u32,
    pub(crate) events: Vec<Message>,
}

impl Notifier {
    /// Reloads the flags; returns true if they changed.
    pub(crate) fn refresh(&mut self) -> bool {
        let flags = self.shared.flags.load(Ordering::Relaxed);
        let changed = flags != self.flags;
        self.flags = flags;
        changed
    }

    /// Whether events of `class` are published at all (`K` or `E` is needed too).
    pub(crate) fn wants(&self, class: NotifyClass) -> bool {
        self.flags & class.0 != 0
            && self.flags & (NotifyClass::KEYSPACE.0 | NotifyClass::KEYEVENT.0) != 0
    }

    /// Buffers the messages of one event (see `Shard::notify`).
    pub(crate) fn push(&mut self, db: usize, event: &str, key: &[u8]) {
        let mut dbs = itoa::Buffer::new();
        let db = dbs.format(db).as_bytes();
        if self.flags & NotifyClass::KEYSPACE.0 != 0 {
            let mut ch = BytesMut::with_capacity(16 + db.len() + key.len());
            ch.put_slice(b"__keyspace@");
            ch.put_slice(db);
            ch.put_slice(b"__:");
            ch.put_slice(key);
            self.events
                .push((ch.freeze(), Bytes::copy_from_slice(event.as_bytes())));
        }
        if self.flags & NotifyClass::KEYEVENT.0 != 0 {
            let mut ch = BytesMut::with_capacity(16 + db.len() + event.len());
            ch.put_slice(b"__keyevent@");
            ch.put_slice(db);
            ch.put_slice(b"__:");
            ch.put_slice(event.as_bytes());
            self.events.push((ch.freeze(), Bytes::copy_from_slice(key)));
        }
    }

    /// Hands this pass's events to the sink (dropped if none is installed).
    pub(crate) fn flush(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        if let Some(sink) = self.shared.sink.get() {
            sink.publish(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_redis() {
        let show = |s: &str| NotifyClass::parse(s).map(|c| c.to_string());
        assert_eq!(show("KEA").as_deref(), Some("AKE"));
        assert_eq!(show("Kgx").as_deref(), Some("gxK"));
        assert_eq!(show("").as_deref(), Some(""));
        assert_eq!(show("Elmn$").as_deref(), Some("$lEmn"));
        assert_eq!(show("AKEmn").as_deref(), Some("AKEmn"));
        assert_eq!(show("Q"), None);
        assert_eq!(show("KEa"), None);
    }

    #[test]
    fn events_name_both_channels_only_when_asked() {
        let mut n = Notifier::default();
        n.shared.flags.store(
            (NotifyClass::KEYSPACE.0) | NotifyClass::STRING.0,
            Ordering::Relaxed,
        );
        assert!(n.refresh());
        assert!(n.wants(NotifyClass::STRING));
        assert!(!n.wants(NotifyClass::GENERIC));
        n.push(3, "set", b"k");
        assert_eq!(
            n.events,
            vec![(
                Bytes::from_static(b"__keyspace@3__:k"),
                Bytes::from_static(b"set")
            )]
        );
        n.flags |= NotifyClass::KEYEVENT.0;
        n.events.clear();
        n.push(0, "del", b"k");
        assert_eq!(n.events[1].0, Bytes::from_static(b"__keyevent@0__:del"));
        assert_eq!(n.events[1].1, Bytes::from_static(b"k"));
    }
}
