//! The claims JSON, written in one fixed layout without a serializer (the
//! field order wasmbus 0.x and the contract's known answer use), and read
//! back without copying the strings.

use std::borrow::Cow;
use std::fmt::Write;

use serde::Deserialize;

/// Bytes a JSON string must escape.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t
};

/// Appends `s` as a JSON string (quotes included), escaping what JSON requires.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| NEEDS_ESCAPE[b as usize]) {
        out.push_str(s);
    } else {
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// What an invocation's claims say, borrowed for writing.
pub(crate) struct InvocationClaimsOut<'a> {
    pub exp: Option<u64>,
    pub jti: &'a str,
    pub iat: u64,
    pub iss: &'a str,
    pub sub: &'a str,
    pub nbf: Option<u64>,
    pub target_url: &'a str,
    pub origin_url: &'a str,
    pub hash: &'a str,
}

impl InvocationClaimsOut<'_> {
    /// `{"exp"?,"jti","iat","iss","sub","nbf"?,"wascap":{"target_url","origin_url","hash"},"wascap_revision":3}`
    pub(crate) fn write(&self, out: &mut String) {
        out.push('{');
        if let Some(exp) = self.exp {
            let _ = write!(out, "\"exp\":{exp},");
        }
        out.push_str("\"jti\":");
        push_str(out, self.jti);
        let _ = write!(out, ",\"iat\":{},\"iss\":", self.iat);
        push_str(out, self.iss);
        out.push_str(",\"sub\":");
        push_str(out, self.sub);
        if let Some(nbf) = self.nbf {
            let _ = write!(out, ",\"nbf\":{nbf}");
        }
        out.push_str(",\"wascap\":{\"target_url\":");
        push_str(out, self.target_url);
        out.push_str(",\"origin_url\":");
        push_str(out, self.origin_url);
        out.push_str(",\"hash\":");
        push_str(out, self.hash);
        out.push_str("},\"wascap_revision\":3}");
    }
}

/// Claims of a control message (section 6b), borrowed for writing:
/// `{"jti","iat","iss","sub","hash"}`.
pub(crate) fn write_control(
    out: &mut String,
    jti: &str,
    iat: u64,
    iss: &str,
    sub: &str,
    hash: &str,
) {
    out.push_str("{\"jti\":");
    push_str(out, jti);
    let _ = write!(out, ",\"iat\":{iat},\"iss\":");
    push_str(out, iss);
    out.push_str(",\"sub\":");
    push_str(out, sub);
    out.push_str(",\"hash\":");
    push_str(out, hash);
    out.push('}');
}

/// The `wascap` section as read.
#[derive(Deserialize)]
pub(crate) struct WascapIn<'a> {
    #[serde(borrow)]
    pub target_url: Cow<'a, str>,
    #[serde(borrow)]
    pub origin_url: Cow<'a, str>,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

/// Invocation claims as read: the strings borrowed from the decoded JSON
/// when they hold no escapes. Unknown fields are ignored.
#[derive(Deserialize)]
pub(crate) struct ClaimsIn<'a> {
    #[serde(default)]
    pub exp: Option<u64>,
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    pub iat: u64,
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    #[serde(default)]
    pub nbf: Option<u64>,
    #[serde(borrow)]
    pub wascap: WascapIn<'a>,
}

/// Control-message claims as read.
#[derive(Deserialize)]
pub(crate) struct ControlClaimsIn<'a> {
    #[serde(default)]
    pub exp: Option<u64>,
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    pub iat: u64,
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    #[serde(default)]
    pub nbf: Option<u64>,
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        let mut out = String::new();
        push_str(&mut out, "plain");
        push_str(&mut out, "q\"b\\n\nt\t\u{1}");
        assert_eq!(out, r#""plain""q\"b\\n\nt\t\u0001""#);
        let back: Vec<String> =
            serde_json::from_str(&format!("[{}]", out.replace("\"\"", "\",\""))).unwrap();
        assert_eq!(back, vec!["plain", "q\"b\\n\nt\t\u{1}"]);
    }

    #[test]
    fn written_claims_read_back() {
        let mut out = String::new();
        InvocationClaimsOut {
            exp: Some(9),
            jti: "j",
            iat: 7,
            iss: "I",
            sub: "s\"x",
            nbf: None,
            target_url: "t",
            origin_url: "o",
            hash: "H",
        }
        .write(&mut out);
        let c: ClaimsIn<'_> = serde_json::from_str(&out).unwrap();
        assert_eq!((c.exp, c.iat, c.nbf), (Some(9), 7, None));
        assert_eq!((&*c.jti, &*c.iss, &*c.sub), ("j", "I", "s\"x"));
        assert_eq!(&*c.wascap.hash, "H");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["wascap_revision"], 3);
    }
}
