//! The one place this crate needs `unsafe`: registering a listener with a poller.
use std::io;
use std::net::TcpListener;

use polling::{Event, Poller};

/// Registers `listener` with `poller` for readability under `key`.
///
/// The caller must call `Poller::delete` before the listener is dropped; `accept_loop` does so
/// on every exit path because it owns both and deletes before returning.
#[allow(unsafe_code)]
pub(crate) fn register(poller: &Poller, listener: &TcpListener, key: usize) -> io::Result<()> {
    // SAFETY: polling requires the source to stay open while registered and to be deleted
    // before it is closed. The listener is owned by the accept loop that also owns this
    // registration, and the loop deletes it from the poller before dropping it.
    unsafe { poller.add(listener, Event::readable(key)) }
}
