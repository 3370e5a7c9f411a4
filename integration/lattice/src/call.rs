//! `lattice call`: arguments from JSON, encoded with the interface crates'
//! own types where the operation is known; replies as JSON; the error code
//! decides the exit status.

use anyhow::{Result, bail};
use lattice_rpc::wire::serialize;
use lattice_rpc::{ErrorCode, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use keyvalue_interface::ops as kv;
use keyvalue_interface::types as kvt;
use messaging_interface::ops as msg;
use messaging_interface::types as msgt;

/// Exit status of a call that failed with `code` (documented in `lattice --help`).
pub fn exit_code(code: &ErrorCode) -> u8 {
    match code {
        ErrorCode::BadEnvelope
        | ErrorCode::BadRequest
        | ErrorCode::UnknownOperation
        | ErrorCode::TooLarge => 3,
        ErrorCode::Unauthorized | ErrorCode::NotLinked => 4,
        ErrorCode::Unavailable
        | ErrorCode::Timeout
        | ErrorCode::Overloaded
        | ErrorCode::ShuttingDown => 5,
        ErrorCode::Interface(_) => 7,
        _ => 6,
    }
}

/// The exit statuses, for `lattice --help`.
pub const EXIT_CODES: &str = "Exit status:
  0  success
  1  the command failed (bad input, a file, NATS, a provider that refused)
  2  usage error (unknown flag or command)
  3  call refused as malformed: bad-request, bad-envelope, unknown-operation, too-large
  4  call not allowed: unauthorized, not-linked
  5  try again later: unavailable, timeout, overloaded, shutting-down
  6  the provider failed: internal, or an error without a code
  7  the interface's own error (keyvalue.no-such-store, secrets.not-found, …)";

/// Decodes JSON into `T`, refusing fields `T` does not have (a typo would
/// otherwise be dropped silently), and encodes it as the wire does.
fn typed<T: DeserializeOwned + Serialize>(operation: &str, arg: Value) -> Result<Vec<u8>> {
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(arg, |path| unknown.push(path.to_string()))
        .map_err(|e| anyhow::anyhow!("the argument of {operation} does not fit: {e}"))?;
    if !unknown.is_empty() {
        bail!(
            "the argument of {operation} has fields it does not take: {}",
            unknown.join(", ")
        );
    }
    Ok(serialize(&value)?)
}

/// The wire bytes of `operation`'s argument, when the operation is one of
/// the interfaces this command knows (`Secrets.Get` is handled by the caller:
/// it needs a reply key).
pub fn encode(operation: &str, arg: Value) -> Option<Result<Vec<u8>>> {
    let op = operation;
    Some(match op {
        kv::GET | kv::DEL | kv::CONTAINS | kv::LIST_CLEAR | kv::SET_CLEAR | kv::SET_QUERY => {
            typed::<String>(op, arg)
        }
        kv::SET => typed::<kvt::SetRequest>(op, arg),
        kv::INCREMENT => typed::<kvt::IncrementRequest>(op, arg),
        kv::LIST_ADD | kv::LIST_DEL => typed::<kvt::ListItemRequest>(op, arg),
        kv::LIST_RANGE => typed::<kvt::ListRangeRequest>(op, arg),
        kv::SET_ADD | kv::SET_DEL => typed::<kvt::SetItemRequest>(op, arg),
        kv::SET_INTERSECTION | kv::SET_UNION => typed::<Vec<String>>(op, arg),
        kv::STORE_GET | kv::STORE_DELETE | kv::STORE_EXISTS => typed::<kvt::BucketKey>(op, arg),
        kv::STORE_SET => typed::<kvt::SetArgs>(op, arg),
        kv::STORE_LIST_KEYS => typed::<kvt::ListKeysArgs>(op, arg),
        kv::ATOMICS_INCREMENT => typed::<kvt::IncrementArgs>(op, arg),
        kv::ATOMICS_CAS => typed::<kvt::CasArgs>(op, arg),
        kv::BATCH_GET_MANY | kv::BATCH_DELETE_MANY => typed::<kvt::BucketKeys>(op, arg),
        kv::BATCH_SET_MANY => typed::<kvt::SetManyArgs>(op, arg),
        msg::PUBLISH => typed::<msgt::PubMessage>(op, arg),
        msg::REQUEST => typed::<msgt::RequestMessage>(op, arg),
        _ => return None,
    })
}

/// The argument of `Secrets.Get` from JSON `{key, field?, version?}`, sealed
/// to `reply_xkey`.
pub fn secrets_get(arg: Value, reply_xkey: &str) -> Result<Vec<u8>> {
    let mut unknown = Vec::new();
    let mut req: secrets_interface::types::GetRequest =
        serde_ignored::deserialize(arg, |path| unknown.push(path.to_string()))
            .map_err(|e| anyhow::anyhow!("the argument of Secrets.Get does not fit: {e}"))?;
    if !unknown.is_empty() {
        bail!(
            "the argument of Secrets.Get has fields it does not take: {}",
            unknown.join(", ")
        );
    }
    req.reply_xkey = reply_xkey.to_string();
    Ok(serialize(&req)?)
}

/// A reply as JSON: MessagePack maps, arrays and scalars as they are; byte
/// strings as text when they are UTF-8, else `{"base64": "…"}`.
pub fn reply_json(bytes: &[u8]) -> Result<Value, RpcError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let JsonOut(v) = rmp_serde::from_slice(bytes)
        .map_err(|e| RpcError::bad_envelope(format!("the reply is not MessagePack: {e}")))?;
    Ok(v)
}

/// Bytes as JSON (see [`reply_json`]).
pub fn bytes_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => {
            use base64::Engine;
            serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}

struct JsonOut(Value);

impl<'de> serde::Deserialize<'de> for JsonOut {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor).map(JsonOut)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any MessagePack value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(bytes_json(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(JsonOut(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some((JsonOut(k), JsonOut(v))) = map.next_entry()? {
            let key = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_operations_encode_with_the_interface_types() {
        let bytes = encode(
            kv::SET,
            serde_json::json!({"key": "k", "value": "v", "expires": 0}),
        )
        .expect("known")
        .expect("fits");
        let back: kvt::SetRequest = lattice_rpc::wire::deserialize(&bytes).expect("decodes");
        assert_eq!((back.key.as_str(), back.value.as_str()), ("k", "v"));
        let bytes = encode(kv::GET, serde_json::json!("k"))
            .expect("known")
            .expect("fits");
        assert_eq!(bytes, serialize(&"k").expect("str"));
        let e = encode(kv::SET, serde_json::json!({"key": "k", "valeu": "v"}))
            .expect("known")
            .expect_err("typo");
        assert!(e.to_string().contains("valeu"), "{e}");
        let e = encode(kv::GET, serde_json::json!({"key": "k"}))
            .expect("known")
            .expect_err("wrong shape");
        assert!(e.to_string().contains("KeyValue.Get"), "{e}");
        assert!(encode("Nope.Nothing", Value::Null).is_none());
    }

    #[test]
    fn replies_become_json_with_text_bytes_as_text() {
        let r = kvt::GetResult {
            value: Some(serde_bytes::ByteBuf::from(b"hello".to_vec())),
        };
        let v = reply_json(&serialize(&r).expect("enc")).expect("json");
        assert_eq!(v, serde_json::json!({"value": "hello"}));
        let r = kvt::GetResult {
            value: Some(serde_bytes::ByteBuf::from(vec![0xff, 0])),
        };
        let v = reply_json(&serialize(&r).expect("enc")).expect("json");
        assert_eq!(v, serde_json::json!({"value": {"base64": "/wA="}}));
        assert_eq!(reply_json(b"").expect("empty"), Value::Null);
        assert!(reply_json(&[0xc1]).is_err());
    }

    #[test]
    fn error_codes_map_to_documented_exit_statuses() {
        assert_eq!(exit_code(&ErrorCode::NotLinked), 4);
        assert_eq!(exit_code(&ErrorCode::Unavailable), 5);
        assert_eq!(
            exit_code(&ErrorCode::Interface("keyvalue.no-such-store".into())),
            7
        );
        for n in 3..=7 {
            assert!(EXIT_CODES.contains(&format!("  {n}  ")), "{n}");
        }
    }
}
