//! The one place this crate needs `unsafe`: registering a socket with the poller.
use std::io;
use std::net::TcpStream;

use polling::{Event, PollMode, Poller};

/// Registers `stream` with `poller` in level-triggered mode.
///
/// Level triggering lets the loop stop reading a connection part way (fairness budget,
/// backpressure) and still be told about the remaining bytes on the next pass.
#[allow(unsafe_code)]
pub(crate) fn register(poller: &Poller, stream: &TcpStream, interest: Event) -> io::Result<()> {
    // SAFETY: `polling` requires that the source is deleted from the poller before it is closed.
    // The stream is owned by a connection in the same event loop as `poller`, and the loop
    // always calls `Poller::delete` before it drops a connection (see `EventLoop::close`).
    unsafe { poller.add_with_mode(stream, interest, PollMode::Level) }
}
