//! Wire structs of `wasmcloud:httpserver`, field names exactly as on the wire
//! (camelCase as in the 0.x contract).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// HTTP headers: each name once, with all its values in order.
pub type HeaderMap = HashMap<String, Vec<String>>;

/// Argument of `HttpServer.HandleRequest`: one HTTP request received by the
/// provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method in upper case (`GET`, `POST`, …).
    #[serde(default)]
    pub method: String,
    /// The path as received, percent-encoding kept, starting with `/`.
    #[serde(default)]
    pub path: String,
    /// The raw query string without the leading `?`, not decoded; empty when
    /// the URL has none.
    #[serde(default, rename = "queryString")]
    pub query_string: String,
    /// The request headers, names in lower case.
    #[serde(default)]
    pub header: HeaderMap,
    /// The request body, fully read; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of header `name` (compared case-insensitively).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

/// Result of `HttpServer.HandleRequest`: the actor's answer, sent to the HTTP
/// client. [`Default`] is an empty `200`; a `statusCode` missing on the wire
/// decodes as 0, which the provider sends as `500`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// HTTP status code, 100 to 599; any other value is sent as `500`.
    #[serde(default, rename = "statusCode")]
    pub status_code: u16,
    /// Response headers; the provider may add its own (CORS, `cache-control`).
    #[serde(default)]
    pub header: HeaderMap,
    /// The response body; may be empty.
    #[serde(default, with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl Default for HttpResponse {
    fn default() -> Self {
        Self::with_status(200, Vec::new())
    }
}

impl HttpResponse {
    /// A response with `status_code`, `body` and no headers.
    pub fn with_status(status_code: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status_code,
            header: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// `200 OK` with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::with_status(200, body)
    }

    /// `400 Bad Request` with `body`.
    pub fn bad_request(body: impl Into<Vec<u8>>) -> Self {
        Self::with_status(400, body)
    }

    /// `404 Not Found`, empty.
    pub fn not_found() -> Self {
        Self::with_status(404, Vec::new())
    }

    /// `500 Internal Server Error` with `body`.
    pub fn internal_server_error(body: impl Into<Vec<u8>>) -> Self {
        Self::with_status(500, body)
    }

    /// Adds `value` to header `name`, after any values it already has.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header
            .entry(name.into())
            .or_default()
            .push(value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lattice_rpc::wire::{deserialize, serialize};
    use serde::de::IgnoredAny;

    use super::*;

    #[test]
    fn field_names_and_encodings_are_the_wire_ones() {
        let bytes = serialize(&HttpRequest::default()).unwrap();
        let m: BTreeMap<String, IgnoredAny> = deserialize(&bytes).unwrap();
        let names: Vec<_> = m.into_keys().collect();
        assert_eq!(names, ["body", "header", "method", "path", "queryString"]);

        let r = HttpResponse::ok(vec![1]).with_header("a", "b");
        let mut want = vec![0x83, 0xaa];
        want.extend_from_slice(b"statusCode");
        want.extend_from_slice(&[0xcc, 200, 0xa6]);
        want.extend_from_slice(b"header");
        want.extend_from_slice(&[0x81, 0xa1, b'a', 0x91, 0xa1, b'b', 0xa4]);
        want.extend_from_slice(b"body");
        want.extend_from_slice(&[0xc4, 1, 1]);
        assert_eq!(serialize(&r).unwrap(), want);
        assert_eq!(deserialize::<HttpResponse>(&want).unwrap(), r);
    }
}
