//! Connections (or clients) shared by every link with equal settings: a
//! link holds an `Arc`; the pool keeps `Weak`s, so a connection closes with
//! the last link that uses it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// A pool of `V` keyed by settings `K`.
pub struct SharedPool<K, V> {
    map: Mutex<HashMap<K, Weak<V>>>,
    // One connect at a time, so two links with equal settings share one.
    connecting: tokio::sync::Mutex<()>,
}

impl<K, V> Default for SharedPool<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            connecting: tokio::sync::Mutex::new(()),
        }
    }
}

impl<K: Eq + Hash + Clone, V> SharedPool<K, V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Weak<V>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live_one(&self, key: &K) -> Option<Arc<V>> {
        let mut map = self.lock();
        map.retain(|_, w| w.strong_count() > 0);
        map.get(key).and_then(Weak::upgrade)
    }

    /// The value for `key`: a live one, else the one `make` builds (made
    /// without a round trip, such as a lazy client).
    pub fn get_or_make<E>(
        &self,
        key: &K,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let mut map = self.lock();
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(v) = map.get(key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        let v = Arc::new(make()?);
        map.insert(key.clone(), Arc::downgrade(&v));
        Ok(v)
    }

    /// The value for `key`: a live one, else the one `connect` makes. One
    /// connect runs at a time; health checks ([`SharedPool::live`]) never wait on it.
    pub async fn get_or_connect<E, F, Fut>(&self, key: &K, connect: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(v) = self.live_one(key) {
            return Ok(v);
        }
        let _one = self.connecting.lock().await;
        if let Some(v) = self.live_one(key) {
            return Ok(v);
        }
        let v = Arc::new(connect().await?);
        self.lock().insert(key.clone(), Arc::downgrade(&v));
        Ok(v)
    }

    /// Every value some link still holds.
    pub fn live(&self) -> Vec<Arc<V>> {
        self.lock().values().filter_map(Weak::upgrade).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn equal_settings_share_until_the_last_holder_drops() {
        let pool: SharedPool<&str, u32> = SharedPool::default();
        let a = pool.get_or_make(&"a", || Ok::<_, ()>(1)).unwrap();
        let a2 = pool
            .get_or_connect(&"a", || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &a2), "equal settings share");
        let b = pool
            .get_or_connect(&"b", || async { Ok::<_, ()>(3) })
            .await
            .unwrap();
        assert_eq!(pool.live().len(), 2);
        drop((a, b));
        assert_eq!(pool.live().len(), 1, "a2 still holds a");
        drop(a2);
        assert!(pool.live().is_empty());
        let made = pool.get_or_make(&"a", || Ok::<_, ()>(4)).unwrap();
        assert_eq!(*made, 4, "a released value is made anew");
        assert_eq!(
            pool.get_or_make(&"x", || Err::<u32, _>("refused")),
            Err("refused")
        );
    }
}
