//! The replay cache: which `jti`s were accepted, for as long as their `iat`
//! can still pass the time checks.
//!
//! A `jti` is kept as a 64-bit keyed hash (SipHash with this process's
//! random key, so nobody can aim collisions), filed under its claims' `iat`
//! second: a replay carries the same `iat`, so one second's entries are all a
//! look-up reads. The second currently being filled takes new hashes in a
//! small hash set; once a second has passed (or its set reaches
//! [`HOT_LIMIT`]) its hashes are merged into a sorted vector of exact size,
//! 8 bytes a call, searched by bisection. A second is dropped once no `iat`
//! in it can pass the time checks. Entries are spread over [`SHARDS`]
//! independently locked shards, so concurrent calls seldom wait on each
//! other.
//!
//! Two different `jti`s share a hash with probability 2^-64 per pair: at
//! 20 000 calls/s and a 120 s memory (2.4 million remembered), a fresh call
//! is refused as a replay with probability about 1.3e-13.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;

/// The hashes kept are already keyed SipHash values: the sets use them as
/// they are instead of hashing them again.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<Identity>>;

/// Independently locked parts of the cache.
pub(crate) const SHARDS: usize = 16;
/// Hashes one second takes in its set before they are merged into its vector.
pub(crate) const HOT_LIMIT: usize = 512;

#[derive(Default)]
struct Second {
    frozen: Vec<u64>,
    hot: HashSet64,
}

impl Second {
    fn contains(&self, h: u64) -> bool {
        self.hot.contains(&h) || self.frozen.binary_search(&h).is_ok()
    }

    /// Merges the set into the sorted vector (exact capacity).
    fn freeze(&mut self) {
        if self.hot.is_empty() {
            return;
        }
        let mut hot: Vec<u64> = self.hot.drain().collect();
        hot.sort_unstable();
        let mut merged = Vec::with_capacity(self.frozen.len() + hot.len());
        let (mut a, mut b) = (self.frozen.iter().peekable(), hot.iter().peekable());
        while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
            if x <= y {
                merged.push(x);
                a.next();
            } else {
                merged.push(y);
                b.next();
            }
        }
        merged.extend(a);
        merged.extend(b);
        self.frozen = merged;
        self.hot = HashSet64::default();
    }

    fn bytes(&self) -> usize {
        self.frozen.capacity() * 8 + self.hot.capacity() * 9
    }
}

#[derive(Default)]
struct Shard {
    seconds: BTreeMap<u64, Second>,
    /// The last `now` at which old seconds were frozen and dropped.
    tidied_at: u64,
}

impl Shard {
    /// Freezes every second before `now` and drops those older than `oldest`.
    fn tidy(&mut self, now: u64, oldest: u64) {
        if self.tidied_at == now {
            return;
        }
        self.tidied_at = now;
        while let Some((&sec, _)) = self.seconds.first_key_value() {
            if sec >= oldest {
                break;
            }
            self.seconds.pop_first();
        }
        for (_, s) in self.seconds.range_mut(..now) {
            s.freeze();
        }
    }
}

/// Remembers accepted `jti`s (see the module docs).
pub(crate) struct ReplayCache {
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
    /// How many seconds before `now` an `iat` can still be accepted.
    keep_secs: u64,
}

impl ReplayCache {
    /// A cache for `iat`s accepted up to `keep_secs` seconds in the past.
    pub(crate) fn new(keep_secs: u64) -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            keep_secs,
        }
    }

    fn shard_of(&self, h: u64) -> &Mutex<Shard> {
        // The low bits pick the shard; the whole hash is what is kept.
        &self.shards[(h as usize) % SHARDS]
    }

    fn shard<'a>(&self, m: &'a Mutex<Shard>) -> std::sync::MutexGuard<'a, Shard> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keyed hash of a `jti`, computed once for [`ReplayCache::seen`]
    /// and [`ReplayCache::record`].
    pub(crate) fn key(&self, jti: &str) -> u64 {
        self.hasher.hash_one(jti)
    }

    /// True when the `jti` of hash `h` (claimed at `iat`) was already
    /// recorded. A look-up only.
    pub(crate) fn seen(&self, h: u64, iat: u64) -> bool {
        self.shard(self.shard_of(h))
            .seconds
            .get(&iat)
            .is_some_and(|s| s.contains(h))
    }

    /// Records the `jti` of hash `h` claimed at `iat`; false when a twin
    /// recorded it first.
    pub(crate) fn record(&self, h: u64, iat: u64, now: u64) -> bool {
        let mut shard = self.shard(self.shard_of(h));
        shard.tidy(now, now.saturating_sub(self.keep_secs));
        let second = shard.seconds.entry(iat).or_default();
        if second.contains(h) {
            return false;
        }
        second.hot.insert(h);
        if second.hot.len() >= HOT_LIMIT {
            second.freeze();
        }
        true
    }

    /// Freezes and drops old seconds in every shard, as `record` does in its own.
    #[cfg(test)]
    pub(crate) fn tidy_all(&self, now: u64) {
        for m in &self.shards {
            self.shard(m).tidy(now, now.saturating_sub(self.keep_secs));
        }
    }

    /// Hashes remembered now.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                let s = self.shard(m);
                s.seconds
                    .values()
                    .map(|x| x.frozen.len() + x.hot.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// Heap bytes the remembered hashes take (vectors and sets, not the map nodes).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|m| {
                self.shard(m)
                    .seconds
                    .values()
                    .map(Second::bytes)
                    .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_jti_is_seen_under_its_own_iat_only() {
        let c = ReplayCache::new(90);
        assert!(!c.seen(c.key("a"), 100));
        assert!(c.record(c.key("a"), 100, 100));
        assert!(c.seen(c.key("a"), 100));
        assert!(!c.record(c.key("a"), 100, 101), "a twin is refused");
        assert!(!c.seen(c.key("a"), 99), "another iat is another claim");
        assert!(c.record(c.key("b"), 100, 101));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn seconds_older_than_the_window_are_forgotten_and_newer_ones_kept() {
        let c = ReplayCache::new(10);
        assert!(c.record(c.key("old"), 100, 100));
        assert!(c.record(c.key("edge"), 101, 101));
        // At 111 the oldest iat still accepted is 101: "old" goes, "edge" stays.
        assert!(c.record(c.key("fill"), 111, 111));
        c.tidy_all(111);
        assert!(!c.seen(c.key("old"), 100), "forgotten after its window");
        assert!(c.seen(c.key("edge"), 101), "kept at the edge of its window");
        assert!(
            !c.record(c.key("edge"), 101, 111),
            "still refused at the edge"
        );
    }

    #[test]
    fn the_identity_hasher_passes_hashes_through() {
        let mut h = Identity::default();
        h.write_u64(0xdead_beef_0000_0001);
        assert_eq!(h.finish(), 0xdead_beef_0000_0001);
        let mut h = Identity::default();
        h.write(&[1, 2, 3]);
        assert_eq!(h.finish(), 0x01_02_03);
    }

    #[test]
    fn a_second_keeps_new_hashes_in_its_set_until_the_limit() {
        let c = ReplayCache::new(60);
        for i in 0..10 {
            assert!(c.record(c.key(&format!("j{i}")), 500, 500));
        }
        let (hot, frozen): (usize, usize) = c
            .shards
            .iter()
            .map(|m| {
                let s = c.shard(m);
                s.seconds
                    .values()
                    .fold((0, 0), |(h, f), x| (h + x.hot.len(), f + x.frozen.len()))
            })
            .fold((0, 0), |(h, f), (a, b)| (h + a, f + b));
        assert_eq!((hot, frozen), (10, 0));
    }

    #[test]
    fn merged_seconds_still_find_every_hash() {
        let c = ReplayCache::new(60);
        // Enough for every shard to merge its set into its vector several
        // times within the second (each merge into a non-empty vector).
        let n = SHARDS * HOT_LIMIT * 3 + 17;
        for i in 0..n {
            assert!(c.record(c.key(&format!("j{i}")), 500, 500));
        }
        // A later second freezes second 500.
        c.tidy_all(501);
        for i in 0..n {
            assert!(c.seen(c.key(&format!("j{i}")), 500), "j{i}");
            assert!(!c.record(c.key(&format!("j{i}")), 500, 501), "j{i} twin");
        }
        assert!(!c.seen(c.key("never"), 500));
    }

    #[test]
    fn a_frozen_call_costs_about_eight_bytes() {
        let c = ReplayCache::new(60);
        let n = 100_000;
        for i in 0..n {
            c.record(
                c.key(&format!("{i}")),
                1000 + (i as u64 / 10_000),
                1000 + (i as u64 / 10_000),
            );
        }
        // At a later second everything before it is frozen.
        c.tidy_all(1020);
        let per_call = c.heap_bytes() as f64 / c.len() as f64;
        assert!(per_call <= 12.0, "{per_call:.1} bytes per remembered call");
        // And the count is honest: a hash takes its 8 bytes.
        assert!(per_call >= 8.0, "{per_call:.1} bytes per remembered call");
        // The second still filling holds its set (about 9 bytes a slot).
        let frozen_bytes = c.heap_bytes();
        for i in 0..400 {
            c.record(c.key(&format!("hot{i}")), 1020, 1020);
        }
        let hot_bytes = c.heap_bytes() - frozen_bytes;
        assert!((400 * 9..400 * 9 * 4).contains(&hot_bytes), "{hot_bytes}");
    }
}
