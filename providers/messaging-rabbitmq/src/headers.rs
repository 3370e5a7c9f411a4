//! The interface's headers (name → values) as AMQP message headers, both
//! ways: one value is a long string, several an array of long strings;
//! other AMQP types arriving from plain clients become their text.

use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use messaging_interface::MessagingError;
use messaging_interface::types::Headers;

/// Header this provider keeps the delivery count of a requeued message in.
pub const DELIVERIES: &str = "x-lattice-deliveries";
/// Header naming the original routing key of a dead-lettered message.
pub const DEAD_LETTER_KEY: &str = "x-lattice-dead-letter-key";

/// A short string from user input: at most 255 bytes, else `bad-request`.
pub fn short(what: &str, s: &str) -> Result<ShortString, MessagingError> {
    ShortString::try_new(s)
        .map_err(|_| MessagingError::BadRequest(format!("{what} is longer than 255 bytes")))
}

/// The interface's headers as an AMQP table.
pub fn to_table(h: &Headers) -> Result<FieldTable, MessagingError> {
    let mut t = FieldTable::default();
    for (k, vs) in h {
        let v = match vs.as_slice() {
            [one] => AMQPValue::LongString(LongString::from(one.as_str())),
            many => AMQPValue::FieldArray(FieldArray::from(
                many.iter()
                    .map(|v| AMQPValue::LongString(LongString::from(v.as_str())))
                    .collect::<Vec<_>>(),
            )),
        };
        t.insert(short("a header name", k)?, v);
    }
    Ok(t)
}

fn text(v: &AMQPValue) -> Option<String> {
    Some(match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        AMQPValue::ByteArray(b) => String::from_utf8_lossy(b.as_slice()).into_owned(),
        _ => return None,
    })
}

/// An AMQP table as the interface's headers, without this provider's own
/// bookkeeping headers; `None` when nothing is left.
pub fn from_table(t: Option<&FieldTable>) -> Option<Headers> {
    let t = t?;
    let mut out = Headers::new();
    for (k, v) in t.inner() {
        if k.as_str().starts_with("x-lattice-") {
            continue;
        }
        let values = match v {
            AMQPValue::FieldArray(a) => a.as_slice().iter().filter_map(text).collect(),
            other => text(other).into_iter().collect(),
        };
        out.insert(k.as_str().to_string(), values);
    }
    (!out.is_empty()).then_some(out)
}

/// The delivery count this provider wrote on a requeued message (1 when none).
pub fn deliveries(t: Option<&FieldTable>) -> u32 {
    t.and_then(|t| t.inner().get(DELIVERIES))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_with_one_and_many_values_and_bookkeeping_is_hidden() {
        let mut h = Headers::new();
        h.insert("x-trace".into(), vec!["a".into(), "b".into()]);
        h.insert("x-one".into(), vec!["1".into()]);
        let mut t = to_table(&h).unwrap();
        t.insert(DELIVERIES.into(), AMQPValue::LongUInt(3));
        t.insert("x-num".into(), AMQPValue::LongLongInt(-7));
        assert_eq!(deliveries(Some(&t)), 3);
        assert_eq!(deliveries(None), 1);
        let back = from_table(Some(&t)).unwrap();
        assert_eq!(back["x-trace"], vec!["a", "b"]);
        assert_eq!(back["x-one"], vec!["1"]);
        assert_eq!(back["x-num"], vec!["-7"]);
        assert!(!back.contains_key(DELIVERIES));
        assert!(from_table(Some(&FieldTable::default())).is_none());
        let mut long = Headers::new();
        long.insert("h".repeat(300), vec!["v".into()]);
        assert!(to_table(&long).is_err());
    }
}
