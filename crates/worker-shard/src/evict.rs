//! `maxmemory`: Redis's eviction policies, approximated by sampling on each shard, and the
//! LFU counter that `allkeys-lfu`/`volatile-lfu` keep in the entries' access-time word.
//!
//! See the crate docs ("Memory limit and eviction") for how the budget is shared.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::keyspace::EntryRef;
use crate::notify::NotifyClass;
use crate::shard::Shard;

/// Redis's `maxmemory-policy`: what to do when a write would need more than `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Refuse writes (`denyoom` commands) with `-OOM`; reads and deletions still work.
    #[default]
    NoEviction,
    /// Evict the least recently used keys.
    AllkeysLru,
    /// Evict the least frequently used keys.
    AllkeysLfu,
    /// Evict random keys.
    AllkeysRandom,
    /// Evict the least recently used keys among those with a time to live.
    VolatileLru,
    /// Evict the least frequently used keys among those with a time to live.
    VolatileLfu,
    /// Evict random keys among those with a time to live.
    VolatileRandom,
    /// Evict the keys with the nearest expiry time.
    VolatileTtl,
}

/// How a policy ranks the keys it samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Lru,
    Lfu,
    Random,
    Ttl,
}

impl EvictionPolicy {
    /// Every policy, in the order Redis lists them in its error message.
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::AllkeysLru,
        EvictionPolicy::AllkeysLfu,
        EvictionPolicy::AllkeysRandom,
        EvictionPolicy::NoEviction,
    ];

    /// Redis's name, e.g. `allkeys-lru`.
    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllkeysLru => "allkeys-lru",
            EvictionPolicy::AllkeysLfu => "allkeys-lfu",
            EvictionPolicy::AllkeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// The policy named `name` (ASCII case ignored, as `CONFIG SET` does).
    pub fn parse(name: &str) -> Option<EvictionPolicy> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether the policy tracks access frequency (LFU) rather than access time.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllkeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// Whether only keys with a time to live may be evicted.
    fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    fn rank(self) -> Rank {
        match self {
            EvictionPolicy::AllkeysLru | EvictionPolicy::VolatileLru => Rank::Lru,
            EvictionPolicy::AllkeysLfu | EvictionPolicy::VolatileLfu => Rank::Lfu,
            EvictionPolicy::VolatileTtl => Rank::Ttl,
            _ => Rank::Random,
        }
    }

    fn index(self) -> u64 {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(7) as u64
    }
}

/// The memory limit and how it is enforced (`maxmemory`, `maxmemory-policy`,
/// `maxmemory-samples`, `lfu-log-factor`, `lfu-decay-time`), with Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionConfig {
    /// Bytes of data the server may hold, 0 for no limit.
    pub maxmemory: u64,
    /// What happens at the limit.
    pub policy: EvictionPolicy,
    /// Keys sampled per database and eviction round (Redis's default 5).
    pub samples: u32,
    /// How many hits it takes to grow the LFU counter (Redis's default 10; higher is slower).
    pub lfu_log_factor: u32,
    /// Minutes after which an idle key's LFU counter is decremented (default 1; 0: never).
    pub lfu_decay_time: u32,
}

impl Default for EvictionConfig {
    fn default() -> EvictionConfig {
        EvictionConfig {
            maxmemory: 0,
            policy: EvictionPolicy::NoEviction,
            samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// [`EvictionConfig`] shared by every worker of a pool: `CONFIG SET` stores, each worker
/// loads it once per batch.
#[derive(Debug, Default)]
pub(crate) struct SharedEviction {
    maxmemory: AtomicU64,
    /// Policy index in the low byte, samples above.
    policy_samples: AtomicU64,
    /// Log factor in the low 32 bits, decay time in the high ones.
    lfu: AtomicU64,
    /// Shards over their budget with nothing to evict: while any is, the IO layer refuses
    /// `denyoom` commands that span shards or are queued in `MULTI`, as Redis does.
    full: AtomicUsize,
    /// The `maxmemory` and policy they were full under: a `CONFIG SET` of either lifts the
    /// refusal until a shard finds itself full again, at its next pass.
    full_under: AtomicU64,
}

impl SharedEviction {
    pub(crate) fn new(config: EvictionConfig) -> Arc<SharedEviction> {
        let s = Arc::new(SharedEviction::default());
        s.store(config);
        s
    }

    pub(crate) fn store(&self, c: EvictionConfig) {
        self.maxmemory.store(c.maxmemory, Ordering::Relaxed);
        self.policy_samples.store(
            c.policy.index() | u64::from(c.samples) << 8,
            Ordering::Relaxed,
        );
        self.lfu.store(
            u64::from(c.lfu_log_factor) | u64::from(c.lfu_decay_time) << 32,
            Ordering::Relaxed,
        );
    }

    /// Whether some shard is full (see `full`).
    pub(crate) fn any_full(&self) -> bool {
        self.full.load(Ordering::Relaxed) > 0
            && self.full_under.load(Ordering::Relaxed) == self.limit_word()
    }

    /// `maxmemory` and the policy, as one word.
    fn limit_word(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
            ^ (self.policy_samples.load(Ordering::Relaxed) & 0xff) << 56
    }

    pub(crate) fn load(&self) -> EvictionConfig {
        let ps = self.policy_samples.load(Ordering::Relaxed);
        let lfu = self.lfu.load(Ordering::Relaxed);
        EvictionConfig {
            maxmemory: self.maxmemory.load(Ordering::Relaxed),
            policy: EvictionPolicy::ALL[(ps & 0xff) as usize % 8],
            samples: (ps >> 8) as u32,
            lfu_log_factor: lfu as u32,
            lfu_decay_time: (lfu >> 32) as u32,
        }
    }
}

/// The LFU parameters a database needs to update counters on access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lfu {
    pub(crate) log_factor: u32,
    pub(crate) decay_time: u32,
}

/// The counter of a new key, so it is not evicted before it had a chance to be used.
const LFU_INIT_VAL: u32 = 5;

/// Redis's `LFUGetTimeInMinutes`: unix minutes, modulo 2^16.
fn lfu_minutes(now_ms: i64) -> u32 {
    (now_ms.max(0) / 60_000) as u32 & 0xffff
}

/// The LFU word of a new key: the current minute above the initial counter, as Redis's
/// `lru` field holds it.
pub(crate) fn lfu_new(now_ms: i64) -> u32 {
    lfu_minutes(now_ms) << 8 | LFU_INIT_VAL
}

/// The LFU word holding `counter` as of now (`RESTORE ... FREQ`).
pub(crate) fn lfu_with_counter(now_ms: i64, counter: u8) -> u32 {
    lfu_minutes(now_ms) << 8 | u32::from(counter)
}

/// Redis's `LFUDecrAndReturn`: the counter of `word` after decaying it by one per
/// `decay_time` minutes since its last decrement (what `OBJECT FREQ` reports).
pub(crate) fn lfu_counter(word: u32, now_ms: i64, decay_time: u32) -> u8 {
    let ldt = (word >> 8) & 0xffff;
    let counter = word & 0xff;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods) as u8
}

/// Redis's `updateLFU`: decays the counter, then grows it logarithmically (`LFULogIncr`: the
/// higher the counter, the less likely one access increments it), `r` being uniform in [0, 1).
pub(crate) fn lfu_touch(word: u32, now_ms: i64, lfu: Lfu, r: f64) -> u32 {
    let mut counter = u32::from(lfu_counter(word, now_ms, lfu.decay_time));
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        if r < 1.0 / (base * f64::from(lfu.log_factor) + 1.0) {
            counter += 1;
        }
    }
    lfu_minutes(now_ms) << 8 | counter
}

/// Candidates kept between eviction rounds, as Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// Longest one eviction run may take before the command goes ahead anyway (Redis's default
/// `maxmemory-eviction-tenacity` gives 500 µs); the rest is evicted by the next commands and
/// the shard's timer.
const TIME_LIMIT: Duration = Duration::from_micros(500);

/// A key the sampling found worth evicting; higher `score` is evicted first.
#[derive(Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// A shard's eviction state.
#[derive(Debug, Default)]
pub(crate) struct Evictor {
    pub(crate) shared: Arc<SharedEviction>,
    /// As loaded at the start of the batch.
    pub(crate) config: EvictionConfig,
    /// This shard's share of `maxmemory` in bytes; 0 for no limit.
    pub(crate) budget: u64,
    /// Redis's eviction pool: the best candidates seen so far, ascending by score.
    pool: Vec<Candidate>,
    /// Where random eviction looks first, so that databases take turns.
    next_db: usize,
    /// Keys evicted since the last publish.
    pub(crate) evicted: u64,
    /// Whether this shard counts in [`SharedEviction`]'s `full`.
    full: bool,
}

impl Evictor {
    /// Reloads the pool-wide settings; returns the LFU parameters for the databases when the
    /// policy or LFU settings changed (`Some(None)`: not LFU any more).
    pub(crate) fn refresh(&mut self, shard_count: usize) -> Option<Option<Lfu>> {
        let config = self.shared.load();
        if config == self.config {
            return None;
        }
        let before = self.config;
        self.config = config;
        self.budget = match config.maxmemory {
            0 => 0,
            m => (m / shard_count.max(1) as u64).max(1),
        };
        if before.policy != config.policy {
            self.pool.clear();
        }
        let lfu = |c: EvictionConfig| {
            c.policy.is_lfu().then_some(Lfu {
                log_factor: c.lfu_log_factor,
                decay_time: c.lfu_decay_time,
            })
        };
        (lfu(before) != lfu(config)).then_some(lfu(config))
    }

    /// Records whether the shard is full after its evictions of a pass.
    pub(crate) fn set_full(&mut self, full: bool) {
        if full {
            let word = self.config.maxmemory ^ self.config.policy.index() << 56;
            self.shared.full_under.store(word, Ordering::Relaxed);
        }
        if full != self.full {
            self.full = full;
            if full {
                self.shared.full.fetch_add(1, Ordering::Relaxed);
            } else {
                self.shared.full.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Offers a sampled key to the pool.
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.pool.len() >= POOL_SIZE && self.pool[0].score >= score {
            return;
        }
        if self.pool.iter().any(|c| c.db == db && *c.key == *key) {
            return;
        }
        let at = self.pool.partition_point(|c| c.score <= score);
        self.pool.insert(
            at,
            Candidate {
                score,
                db,
                key: key.into(),
            },
        );
        if self.pool.len() > POOL_SIZE {
            self.pool.remove(0);
        }
    }
}

/// The result of [`perform_evictions`], as Redis's `EVICT_OK`/`EVICT_RUNNING`/`EVICT_FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Within the budget.
    Ok,
    /// Still over, but evicting (the time limit cut the run short).
    Running,
    /// Over and nothing can be evicted: `denyoom` commands are refused.
    Fail,
}

/// The error `denyoom` commands get when the budget is exhausted.
pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Bytes the shard's data uses, as `used_memory` counts them.
pub(crate) fn used(shard: &Shard) -> u64 {
    shard.dbs.iter().map(|d| d.mem() as u64).sum()
}

/// Redis's `performEvictions`: evicts keys by the policy until the shard is within its budget.
pub(crate) fn perform_evictions(shard: &mut Shard) -> Outcome {
    let budget = shard.evictor.budget;
    if budget == 0 {
        return Outcome::Ok;
    }
    let mut used_now = used(shard);
    if used_now <= budget {
        return Outcome::Ok;
    }
    if shard.evictor.config.policy == EvictionPolicy::NoEviction {
        return Outcome::Fail;
    }
    let start = Instant::now();
    let mut evicted = 0u32;
    while used_now > budget {
        let Some((db, key)) = pick(shard) else {
            return Outcome::Fail;
        };
        let clock = shard.clock;
        if shard.dbs[db].remove(&key, clock).is_some() {
            shard.evictor.evicted += 1;
            // Redis propagates an eviction as a `DEL`.
            crate::aof::log_del(shard, db, &key);
            shard.notify(db, NotifyClass::EVICTED, "evicted", &key);
        }
        used_now = used(shard);
        evicted += 1;
        if evicted.is_multiple_of(16) && start.elapsed() > TIME_LIMIT {
            return Outcome::Running;
        }
    }
    Outcome::Ok
}

/// The key to evict next, by the policy, or `None` if no key qualifies.
fn pick(shard: &mut Shard) -> Option<(usize, Box<[u8]>)> {
    let policy = shard.evictor.config.policy;
    let volatile = policy.volatile_only();
    let rank = policy.rank();
    let Shard {
        dbs,
        rng,
        evictor,
        clock,
        ..
    } = shard;
    let eligible = |d: &crate::keyspace::Db| {
        if volatile {
            d.expires_len() > 0
        } else {
            d.len() > 0
        }
    };
    if rank == Rank::Random {
        for i in 0..dbs.len() {
            let db = (evictor.next_db + i) % dbs.len();
            if !eligible(&dbs[db]) {
                continue;
            }
            let mut found = None;
            dbs[db].sample(rng, 1, volatile, |e| found = Some(Box::from(e.key())));
            evictor.next_db = db + 1;
            if let Some(key) = found {
                return Some((db, key));
            }
        }
        return None;
    }
    let samples = evictor.config.samples.max(1) as usize;
    let decay = evictor.config.lfu_decay_time;
    let score = |e: EntryRef<'_>| -> u64 {
        match rank {
            Rank::Lru => u64::from(clock.ticks.saturating_sub(e.access_word())),
            Rank::Lfu => 255 - u64::from(lfu_counter(e.access_word(), clock.now_ms, decay)),
            // Nearer expiry first; `volatile` guarantees an expiry.
            _ => u64::MAX - e.expire_at().unwrap_or(i64::MAX).max(0) as u64,
        }
    };
    // Bounded, so a pool that keeps turning out stale can never spin.
    for _ in 0..64 {
        let mut any = false;
        for (i, d) in dbs.iter().enumerate() {
            if !eligible(d) {
                continue;
            }
            any = true;
            d.sample(rng, samples, volatile, |e| {
                evictor.offer(score(e), i, e.key());
            });
        }
        if !any {
            return None;
        }
        while let Some(c) = evictor.pool.pop() {
            let Some(e) = dbs[c.db].peek(&c.key, *clock) else {
                continue;
            };
            if volatile && e.expire_at().is_none() {
                continue;
            }
            // The key may have been used since it was sampled: it then goes back with its
            // current score unless it is still the best candidate.
            let now = score(e);
            if now < c.score && evictor.pool.last().is_some_and(|best| best.score > now) {
                evictor.offer(now, c.db, &c.key);
                continue;
            }
            return Some((c.db, c.key));
        }
    }
    None
}

/// # Format
/// `MEMORY USAGE key [SAMPLES count]`: the bytes `key` takes (its allocation as the allocator
/// rounds it, plus its table bucket). kvd keeps every value's size exact, so `SAMPLES` is
/// checked as Redis does and needs no sampling.
pub(crate) fn memory_usage(
    shard: &mut Shard,
    db: usize,
    args: &[bytes::Bytes],
    out: &mut crate::shard::Out<'_>,
) {
    use crate::shard::err;
    if !args[1].eq_ignore_ascii_case(b"usage") {
        // Only `USAGE` is routed to a shard; the IO layer answers the rest.
        return out.error(err::SYNTAX);
    }
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"samples") && j + 1 < args.len() {
            match crate::shard::parse_i64(&args[j + 1]) {
                None => return out.error(err::NOT_INT),
                Some(n) if n < 0 => return out.error(err::SYNTAX),
                Some(_) => j += 2,
            }
        } else {
            return out.error(err::SYNTAX);
        }
    }
    match shard.dbs[db].usage(&args[2]) {
        Some(bytes) => out.int(bytes as i64),
        None => out.null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn policies_round_trip_by_name() {
        for p in EvictionPolicy::ALL {
            assert_eq!(EvictionPolicy::parse(p.name()), Some(p));
            assert_eq!(EvictionPolicy::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(EvictionPolicy::parse("lru"), None);
        let shared = SharedEviction::new(EvictionConfig::default());
        for p in EvictionPolicy::ALL {
            let c = EvictionConfig {
                maxmemory: 123 << 30,
                policy: p,
                samples: 64,
                lfu_log_factor: 7,
                lfu_decay_time: u32::MAX >> 1,
            };
            shared.store(c);
            assert_eq!(shared.load(), c);
        }
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let lfu = Lfu {
            log_factor: 10,
            decay_time: 1,
        };
        let t = 1_000 * MINUTE;
        let word = lfu_new(t);
        assert_eq!(lfu_counter(word, t, 1), 5);
        // Up to the initial value every access counts.
        assert_eq!(lfu_counter(lfu_touch(word, t, lfu, 0.99), t, 1), 6);
        // Above it, the chance is 1 / ((counter - 5) * factor + 1).
        let w6 = lfu_touch(word, t, lfu, 0.0);
        assert_eq!(lfu_counter(lfu_touch(w6, t, lfu, 0.0), t, 1), 7);
        assert_eq!(lfu_counter(lfu_touch(w6, t, lfu, 0.5), t, 1), 6);
        // Redis's table: factor 10 reaches ~ 10-18 after 100 hits, never 255 quickly.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut w = lfu_new(t);
        for _ in 0..100 {
            w = lfu_touch(w, t, lfu, rng.r#gen::<f64>());
        }
        let c = lfu_counter(w, t, 1);
        assert!((9..=20).contains(&c), "{c}");
        // One per idle minute comes off; never below zero; 0 decay time means no decay.
        assert_eq!(lfu_counter(w, t + 3 * MINUTE, 1), c - 3);
        assert_eq!(lfu_counter(w, t + 3 * MINUTE, 2), c - 1);
        assert_eq!(lfu_counter(w, t + 300 * MINUTE, 1), 0);
        assert_eq!(lfu_counter(w, t + 300 * MINUTE, 0), c);
        assert_eq!(lfu_counter(lfu_with_counter(t, 255), t, 1), 255);
        // The minute field wraps at 2^16, with Redis's arithmetic (one minute short).
        let late = 65_535 * MINUTE;
        assert_eq!(
            lfu_counter(lfu_with_counter(late, 9), late + 2 * MINUTE, 1),
            8
        );
    }

    use rand::{Rng, SeedableRng};
}
