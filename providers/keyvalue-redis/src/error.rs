//! Redis errors as keyvalue errors. Messages never carry the URL.

use keyvalue_interface::KvError;
use redis::RedisError;

/// Maps a Redis error for `key` to the interface's error.
pub fn kv_error(e: RedisError, key: &str) -> KvError {
    if e.code() == Some("WRONGTYPE") {
        return KvError::WrongType(key.to_string());
    }
    if e.detail()
        .is_some_and(|d| d.contains("not an integer") || d.contains("out of range"))
    {
        return KvError::NotAnInteger(key.to_string());
    }
    if e.is_timeout() {
        return KvError::Unavailable("Redis did not answer within the response timeout".into());
    }
    if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        return KvError::Unavailable(format!("Redis unreachable: {}", e.category()));
    }
    KvError::Internal(format!("Redis error: {}", e.category()))
}
