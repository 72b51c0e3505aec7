//! The loops' epoll set: one `epoll_wait` syscall per sleep and nothing else.
//!
//! `polling::Poller::wait` costs four more syscalls on every call (arming a timerfd and
//! re-registering it, reading and re-registering its wake-up eventfd). At pipeline depth 1 a
//! loop sleeps about once per command, so those four syscalls were as many as the command's
//! own `read` and `write` together. Here the timeout is `epoll_wait`'s own (milliseconds are
//! enough: the only timers are active expiry and shutdown polling) and the wake-up eventfd is
//! registered edge-triggered, so every `write` to it wakes the loop without it ever being read
//! or re-armed (its 64-bit counter cannot overflow at one increment per wake-up).
use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, Timespec, eventfd};

/// The key of the wake-up eventfd; connection keys are slot numbers, far below it.
const WAKE_KEY: u64 = u64::MAX;

/// A readiness event of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

/// An epoll instance plus the eventfd other threads wake it with.
#[derive(Debug)]
pub(crate) struct Poller {
    epoll: OwnedFd,
    wake: OwnedFd,
}

fn flags(read: bool, write: bool) -> EventFlags {
    // Level-triggered, so a loop may stop reading a connection part way (fairness budget,
    // backpressure) and be told about the remaining bytes on the next pass. RDHUP/HUP/ERR are
    // reported as readable so the read sees the end or the error.
    let mut flags = EventFlags::empty();
    if read {
        flags |= EventFlags::IN | EventFlags::RDHUP;
    }
    if write {
        flags |= EventFlags::OUT;
    }
    flags
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &wake,
            EventData::new_u64(WAKE_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Poller { epoll, wake })
    }

    /// Starts watching `stream` under `key`. A connection is always deleted before it is
    /// dropped (see `EventLoop::close`), so a closed descriptor's number, reused by a new
    /// socket, never carries a stale registration.
    pub(crate) fn add(&self, stream: &TcpStream, key: usize, read: bool) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            stream,
            EventData::new_u64(key as u64),
            flags(read, false),
        )?;
        Ok(())
    }

    pub(crate) fn modify(
        &self,
        stream: &TcpStream,
        key: usize,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        epoll::modify(
            &self.epoll,
            stream,
            EventData::new_u64(key as u64),
            flags(read, write),
        )?;
        Ok(())
    }

    pub(crate) fn delete(&self, stream: &TcpStream) -> io::Result<()> {
        epoll::delete(&self.epoll, stream)?;
        Ok(())
    }

    /// Wakes the loop blocked in (or about to enter) [`Poller::wait`].
    pub(crate) fn notify(&self) -> io::Result<()> {
        rustix::io::write(&self.wake, &1u64.to_ne_bytes())?;
        Ok(())
    }

    /// Waits for readiness or a wake-up, at most `timeout` (rounded up to whole milliseconds),
    /// and replaces `ready` with the connections' events.
    pub(crate) fn wait(
        &self,
        buf: &mut Vec<Event>,
        ready: &mut Vec<Ready>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        ready.clear();
        buf.clear();
        let timeout = timeout.map(|t| {
            let ms = t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i64;
            Timespec {
                tv_sec: ms / 1000,
                tv_nsec: (ms % 1000) * 1_000_000,
            }
        });
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(buf),
            timeout.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for ev in buf.iter() {
            let key = ev.data.u64();
            if key == WAKE_KEY {
                continue;
            }
            let flags = ev.flags;
            ready.push(Ready {
                key: key as usize,
                readable: flags.intersects(
                    EventFlags::IN | EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR,
                ),
                writable: flags.intersects(EventFlags::OUT | EventFlags::HUP | EventFlags::ERR),
            });
        }
        Ok(())
    }
}
