//! The event loop's side of the client limits (see `crate::limits`): refusing connections,
//! closing clients over their query or output buffer limit or idle too long, and picking up a
//! changed `proto-max-bulk-len`.
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use resp_codec::RequestParser;

use super::EventLoop;
use crate::conn::Conn;
use crate::limits::{DENIED, MAX_CLIENTS};
use crate::shared::{Shared, Stats};

/// How often a loop checks idle clients and soft output limits while either is configured.
pub(super) const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// How long an idle loop may sleep before it looks at its clients' limits again.
pub(super) fn sweep_interval(shared: &Shared) -> Duration {
    if shared.config.client_limits.needs_sweep() {
        SWEEP_EVERY
    } else {
        Duration::from_secs(1)
    }
}

/// Whether `conn`'s pending output breaks its class's `client-output-buffer-limit` (`pubsub`
/// for a subscribed client, else `normal`): at or over the hard limit, or over the soft limit
/// for longer than its seconds. Like Redis, the client is then closed without the rest of its
/// output.
pub(super) fn over_output_limit(shared: &Shared, conn: &mut Conn) -> bool {
    let limits = &shared.config.client_limits;
    let limit = if conn.subs.active() {
        limits.pubsub_output()
    } else {
        limits.normal_output()
    };
    let used = conn.out.len() as u64;
    if limit.hard > 0 && used >= limit.hard {
        log_output_closed(conn, used, "hard");
        return true;
    }
    if limit.soft > 0 && used >= limit.soft {
        let since = *conn.over_soft_since.get_or_insert_with(Instant::now);
        if since.elapsed() > Duration::from_secs(limit.soft_secs) {
            log_output_closed(conn, used, "soft");
            return true;
        }
    } else {
        conn.over_soft_since = None;
    }
    false
}

fn log_output_closed(conn: &Conn, used: u64, which: &str) {
    tracing::warn!(
        client = conn.state.entry.id,
        addr = %conn.state.entry.addr,
        output = used,
        "closing client for overcoming of output buffer limits ({which} limit)"
    );
}

impl EventLoop {
    /// Why a new connection is refused, as the line Redis sends before closing it.
    pub(super) fn refusal(&self, peer: SocketAddr) -> Option<&'static [u8]> {
        let limits = &self.shared.config.client_limits;
        if Stats::load(&self.shared.stats.connected_clients) >= limits.maxclients() {
            return Some(MAX_CLIENTS);
        }
        if limits.protected_mode()
            && self.shared.default_user_nopass()
            && !limits.is_local(peer.ip())
        {
            return Some(DENIED);
        }
        None
    }

    /// Whether the connection's unparsed input is over `client-query-buffer-limit`; Redis
    /// closes such a client without a reply.
    pub(super) fn over_query_limit(&self, slot: usize) -> bool {
        let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
            return false;
        };
        let limit = self.shared.config.client_limits.query_buffer_limit();
        let over = conn.rbuf.len() as u64 > limit;
        if over {
            tracing::warn!(
                client = conn.state.entry.id,
                addr = %conn.state.entry.addr,
                "closing client that reached max query buffer length"
            );
        }
        over
    }

    /// Rebuilds the connection's parser when `proto-max-bulk-len` changed, between requests
    /// only (a parser in the middle of a request keeps the limits it started with).
    pub(super) fn refresh_parser(&mut self, slot: usize) {
        let limits = &self.shared.config.client_limits;
        let epoch = limits.parser_epoch();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if conn.parser_epoch == epoch || conn.parser.is_mid_request() {
            return;
        }
        let mut parser = RequestParser::new(limits.parser_limits(self.shared.config.limits));
        parser.set_auth_required(!conn.state.authed);
        conn.parser = parser;
        conn.parser_epoch = epoch;
    }

    /// Closes clients idle longer than `timeout` and clients over the soft output limit for
    /// too long. A client with a command in flight or output still to write is not idle.
    pub(super) fn sweep_limits(&mut self) {
        let limits = &self.shared.config.client_limits;
        let timeout_ms = limits.timeout_secs().saturating_mul(1000);
        let now_ms = self.shared.now_ms();
        let mut doomed = Vec::new();
        for (slot, conn) in self.conns.iter_mut().enumerate() {
            let Some(conn) = conn.as_mut() else {
                continue;
            };
            if over_output_limit(&self.shared, conn) {
                doomed.push(slot);
                continue;
            }
            // Like Redis, subscribers are never idle: they wait for messages.
            if timeout_ms == 0
                || !conn.pending.is_empty()
                || !conn.out.is_empty()
                || conn.subs.active()
            {
                continue;
            }
            let last = conn.state.entry.last_active_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) > timeout_ms && !conn.state.no_idle_timeout {
                tracing::debug!(client = conn.state.entry.id, "closing idle client");
                doomed.push(slot);
            }
        }
        for slot in doomed {
            self.close(slot);
        }
    }
}
