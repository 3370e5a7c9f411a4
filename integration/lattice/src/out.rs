//! What commands print: one readable line per step for people, or one JSON
//! object per line with `--json`.

use std::io::Write;

use serde_json::{Value, json};

/// Where a command's lines go.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON lines instead of text.
    pub json: bool,
}

impl Out {
    /// A step: `text` for people, `{"event": event, …fields}` for scripts.
    pub fn event(&self, event: &str, text: impl AsRef<str>, fields: Value) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let mut obj = match fields {
                Value::Object(m) => m,
                Value::Null => serde_json::Map::new(),
                other => {
                    let mut m = serde_json::Map::new();
                    m.insert("value".into(), other);
                    m
                }
            };
            obj.insert("event".into(), json!(event));
            let _ = writeln!(stdout, "{}", Value::Object(obj));
        } else {
            let _ = writeln!(stdout, "{}", text.as_ref());
        }
        let _ = stdout.flush();
    }

    /// A note for people only (stderr), such as which keys file was used.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A result value: pretty text for people, one JSON value for scripts.
    pub fn value(&self, text: impl AsRef<str>, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", text.as_ref());
        }
    }
}

/// `1h02m`, `3m04s`, `12s` for an uptime.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A fixed-width table with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// The first characters of a key or id, for tables.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_tables_read_well() {
        assert_eq!(duration(12_500), "12s");
        assert_eq!(duration(184_000), "3m04s");
        assert_eq!(duration(3_720_000), "1h02m");
        assert_eq!(
            table(
                &["NAME", "PID"],
                &[
                    vec!["kv".into(), "12".into()],
                    vec!["httpserver".into(), "3".into()]
                ]
            ),
            "NAME        PID\nkv          12\nhttpserver  3"
        );
        assert_eq!(short("MCATS5YOVB6ROX"), "MCATS5YO");
        assert_eq!(short("ab"), "ab");
    }
}
