//! An in-memory store: the reference the contract suite is validated
//! against, and a stand-in for tests. Every capability; expiry is checked on
//! access; one lock, so every operation is atomic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Capabilities;
use crate::error::KvError;
use crate::store::{CasOutcome, KeyValueStore};
use crate::types::KeyPage;

#[derive(Debug, Clone)]
enum Value {
    Bytes(Vec<u8>),
    List(Vec<String>),
    Set(BTreeSet<String>),
}

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    expires: Option<Instant>,
}

type Key = (String, String);

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<BTreeMap<Key, Entry>>,
}

fn key(bucket: &str, key: &str) -> Key {
    (bucket.to_string(), key.to_string())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<Key, Entry>) -> T) -> T {
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        data.retain(|_, e| e.expires.is_none_or(|t| t > now));
        f(&mut data)
    }
}

fn parse_int(k: &str, v: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| KvError::NotAnInteger(k.to_string()))
}

fn list_mut<'a>(
    data: &'a mut BTreeMap<Key, Entry>,
    name: &str,
) -> Result<&'a mut Vec<String>, KvError> {
    let e = data.entry(key("", name)).or_insert(Entry {
        value: Value::List(Vec::new()),
        expires: None,
    });
    match &mut e.value {
        Value::List(l) => Ok(l),
        _ => Err(KvError::WrongType(name.to_string())),
    }
}

fn set_of(data: &BTreeMap<Key, Entry>, name: &str) -> Result<BTreeSet<String>, KvError> {
    match data.get(&key("", name)).map(|e| &e.value) {
        None => Ok(BTreeSet::new()),
        Some(Value::Set(s)) => Ok(s.clone()),
        Some(_) => Err(KvError::WrongType(name.to_string())),
    }
}

impl KeyValueStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn get(&self, bucket: &str, k: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with(|d| match d.get(&key(bucket, k)).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b.clone())),
            Some(_) => Err(KvError::WrongType(k.to_string())),
        })
    }

    async fn set(
        &self,
        bucket: &str,
        k: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let expires = ttl.map(|t| Instant::now() + t);
        self.with(|d| {
            d.insert(
                key(bucket, k),
                Entry {
                    value: Value::Bytes(value),
                    expires,
                },
            );
        });
        Ok(())
    }

    async fn delete(&self, bucket: &str, k: &str) -> Result<bool, KvError> {
        Ok(self.with(|d| d.remove(&key(bucket, k)).is_some()))
    }

    async fn exists(&self, bucket: &str, k: &str) -> Result<bool, KvError> {
        Ok(self.with(|d| d.contains_key(&key(bucket, k))))
    }

    async fn list_keys(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        // The cursor is the last key returned: keys are ordered, so the next
        // page starts strictly after it.
        self.with(|d| {
            let start = (bucket.to_string(), cursor.unwrap_or("").to_string());
            let mut keys = Vec::new();
            let mut more = false;
            for ((b, k), _) in d.range(start..) {
                if b != bucket {
                    break;
                }
                if cursor.is_some_and(|c| k.as_str() <= c) {
                    continue;
                }
                if prefix.is_some_and(|p| !k.starts_with(p)) {
                    continue;
                }
                if keys.len() == limit as usize {
                    more = true;
                    break;
                }
                keys.push(k.clone());
            }
            let cursor = if more { keys.last().cloned() } else { None };
            Ok(KeyPage { keys, cursor })
        })
    }

    async fn increment(&self, bucket: &str, k: &str, delta: i64) -> Result<i64, KvError> {
        self.with(|d| {
            let entry = d.get(&key(bucket, k));
            let current = match entry.map(|e| &e.value) {
                None => 0,
                Some(Value::Bytes(b)) => parse_int(k, b)?,
                Some(_) => return Err(KvError::WrongType(k.to_string())),
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError::BadRequest(format!("increment of {k:?} overflows")))?;
            let expires = entry.and_then(|e| e.expires);
            d.insert(
                key(bucket, k),
                Entry {
                    value: Value::Bytes(next.to_string().into_bytes()),
                    expires,
                },
            );
            Ok(next)
        })
    }

    async fn compare_and_swap(
        &self,
        bucket: &str,
        k: &str,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<CasOutcome, KvError> {
        self.with(|d| {
            let current = match d.get(&key(bucket, k)).map(|e| &e.value) {
                None => None,
                Some(Value::Bytes(b)) => Some(b.clone()),
                Some(_) => return Err(KvError::WrongType(k.to_string())),
            };
            if current != old {
                return Ok(CasOutcome {
                    swapped: false,
                    current,
                });
            }
            d.insert(
                key(bucket, k),
                Entry {
                    value: Value::Bytes(new.clone()),
                    expires: None,
                },
            );
            Ok(CasOutcome {
                swapped: true,
                current: Some(new),
            })
        })
    }

    async fn list_add(&self, list: &str, value: &str) -> Result<u32, KvError> {
        self.with(|d| {
            let l = list_mut(d, list)?;
            l.push(value.to_string());
            Ok(l.len() as u32)
        })
    }

    async fn list_del(&self, list: &str, value: &str) -> Result<bool, KvError> {
        self.with(|d| {
            if !d.contains_key(&key("", list)) {
                return Ok(false);
            }
            let l = list_mut(d, list)?;
            let found = l.iter().position(|v| v == value).map(|i| l.remove(i));
            if l.is_empty() {
                d.remove(&key("", list));
            }
            Ok(found.is_some())
        })
    }

    async fn list_range(&self, list: &str, start: i32, stop: i32) -> Result<Vec<String>, KvError> {
        self.with(|d| {
            let items = match d.get(&key("", list)).map(|e| &e.value) {
                None => return Ok(Vec::new()),
                Some(Value::List(l)) => l,
                Some(_) => return Err(KvError::WrongType(list.to_string())),
            };
            // Redis LRANGE semantics: inclusive, negative from the end; a
            // start before the first item is the first item, and a stop
            // before the first item (or before start) makes the range empty.
            let len = items.len() as i64;
            let from_end = |i: i32| {
                let i = i64::from(i);
                if i < 0 { len + i } else { i }
            };
            let from = from_end(start).max(0);
            let to = from_end(stop).min(len - 1);
            if from > to || from >= len {
                return Ok(Vec::new());
            }
            Ok(items[from as usize..=to as usize].to_vec())
        })
    }

    async fn set_add(&self, set: &str, value: &str) -> Result<u32, KvError> {
        self.with(|d| {
            let e = d.entry(key("", set)).or_insert(Entry {
                value: Value::Set(BTreeSet::new()),
                expires: None,
            });
            match &mut e.value {
                Value::Set(s) => Ok(u32::from(s.insert(value.to_string()))),
                _ => Err(KvError::WrongType(set.to_string())),
            }
        })
    }

    async fn set_del(&self, set: &str, value: &str) -> Result<u32, KvError> {
        self.with(|d| {
            let removed = match d.get_mut(&key("", set)).map(|e| &mut e.value) {
                None => return Ok(0),
                Some(Value::Set(s)) => {
                    let removed = s.remove(value);
                    if s.is_empty() {
                        d.remove(&key("", set));
                    }
                    removed
                }
                Some(_) => return Err(KvError::WrongType(set.to_string())),
            };
            Ok(u32::from(removed))
        })
    }

    async fn set_query(&self, set: &str) -> Result<Vec<String>, KvError> {
        self.with(|d| Ok(set_of(d, set)?.into_iter().collect()))
    }

    async fn set_intersection(&self, sets: Vec<String>) -> Result<Vec<String>, KvError> {
        self.with(|d| {
            let mut iter = sets.iter();
            let Some(first) = iter.next() else {
                return Ok(Vec::new());
            };
            let mut acc = set_of(d, first)?;
            for s in iter {
                let other = set_of(d, s)?;
                acc.retain(|m| other.contains(m));
            }
            Ok(acc.into_iter().collect())
        })
    }

    async fn set_union(&self, sets: Vec<String>) -> Result<Vec<String>, KvError> {
        self.with(|d| {
            let mut acc = BTreeSet::new();
            for s in &sets {
                acc.extend(set_of(d, s)?);
            }
            Ok(acc.into_iter().collect())
        })
    }
}
