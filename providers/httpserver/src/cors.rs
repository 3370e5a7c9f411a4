//! CORS: preflights answered by the provider from the link's policy, and the
//! headers added to normal responses for allowed origins.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;

const DEFAULT_METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
const DEFAULT_HEADERS: [&str; 4] = [
    "accept",
    "accept-language",
    "content-type",
    "content-language",
];
const DEFAULT_MAX_AGE_SECS: u64 = 300;

/// The CORS keys, as link values or the archived nested `cors` object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CorsSettings {
    /// Allowed origins, or `*`.
    pub allowed_origins: Option<Vec<String>>,
    /// Request headers a preflight allows, or `*` for whatever is asked.
    pub allowed_headers: Option<Vec<String>>,
    /// Methods a preflight allows.
    pub allowed_methods: Option<Vec<String>>,
    /// Response headers exposed to scripts.
    pub exposed_headers: Option<Vec<String>>,
    /// Preflight cache lifetime, seconds.
    pub max_age_secs: Option<u64>,
}

/// A validated CORS policy. With no allowed origin it is off.
#[derive(Debug)]
pub struct Cors {
    origins: Vec<String>,
    any_origin: bool,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    max_age_value: HeaderValue,
}

fn joined(items: &[String], what: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&items.join(", ")).map_err(|_| format!("{what} holds an invalid value"))
}

impl Cors {
    /// Validates `s`; in `readonly` mode only safe methods are offered.
    pub fn new(s: CorsSettings, readonly: bool) -> Result<Cors, String> {
        let origins: Vec<String> = s
            .allowed_origins
            .unwrap_or_default()
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        let any_origin = origins.iter().any(|o| o == "*");
        let methods: Vec<Method> = match s.allowed_methods {
            Some(m) if !m.is_empty() => m,
            _ => DEFAULT_METHODS.iter().map(|m| m.to_string()).collect(),
        }
        .iter()
        .map(|m| {
            Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| "allowed_methods holds an invalid method".to_string())
        })
        .filter(|m| !readonly || m.as_ref().is_ok_and(is_safe_method))
        .collect::<Result<_, _>>()?;
        let method_names: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
        let headers: Vec<String> = match s.allowed_headers {
            Some(h) if !h.is_empty() => h.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            _ => DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect(),
        };
        for h in headers.iter().filter(|h| *h != "*") {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| "allowed_headers holds an invalid header name".to_string())?;
        }
        let headers_value = if headers.iter().any(|h| h == "*") {
            None
        } else {
            Some(joined(&headers, "allowed_headers")?)
        };
        let expose_value = match s.exposed_headers {
            Some(e) if !e.is_empty() => Some(joined(&e, "exposed_headers")?),
            _ => None,
        };
        Ok(Cors {
            origins,
            any_origin,
            methods,
            methods_value: joined(&method_names, "allowed_methods")?,
            headers_value,
            expose_value,
            max_age_value: HeaderValue::from(s.max_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS)),
        })
    }

    /// True when some origin is allowed.
    pub fn enabled(&self) -> bool {
        self.any_origin || !self.origins.is_empty()
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(o) = origin.to_str() else { return false };
        self.any_origin
            || self
                .origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(o.trim_end_matches('/')))
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`), when CORS is on; `None` for any
    /// other request. 204 with the policy, or 403 for an origin or method
    /// the policy does not allow.
    pub fn preflight(&self, method: &Method, req: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        if !self.enabled() || method != Method::OPTIONS {
            return None;
        }
        let origin = req.get(header::ORIGIN)?;
        let asked = req.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let method_ok = Method::from_bytes(asked.as_bytes())
            .map(|m| self.methods.contains(&m))
            .unwrap_or(false);
        let mut resp = Response::new(Full::new(Bytes::new()));
        if !self.allows(origin) || !method_ok {
            *resp.status_mut() = StatusCode::FORBIDDEN;
            return Some(resp);
        }
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.methods_value.clone(),
        );
        let allow_headers = match (
            &self.headers_value,
            req.get(header::ACCESS_CONTROL_REQUEST_HEADERS),
        ) {
            (Some(v), _) => Some(v.clone()),
            (None, asked) => asked.cloned(),
        };
        if let Some(v) = allow_headers {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        h.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age_value.clone());
        Some(resp)
    }

    /// Adds `access-control-allow-origin` (and the exposed headers) to a
    /// response to an allowed `origin`.
    pub fn decorate(&self, origin: Option<&HeaderValue>, resp: &mut HeaderMap) {
        let Some(origin) = origin.filter(|o| self.enabled() && self.allows(o)) else {
            return;
        };
        resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        resp.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(e) = &self.expose_value {
            resp.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
    }
}

/// True for the methods `readonly_mode` lets through.
pub fn is_safe_method(m: &hyper::Method) -> bool {
    matches!(
        *m,
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], readonly: bool) -> Cors {
        let s = CorsSettings {
            allowed_origins: Some(origins.iter().map(|o| o.to_string()).collect()),
            exposed_headers: Some(vec!["x-total".into()]),
            ..Default::default()
        };
        Cors::new(s, readonly).unwrap_or_else(|e| panic!("{e}"))
    }

    fn preflight(origin: &str, method: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_str(origin).unwrap_or(HeaderValue::from_static("x")),
        );
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_str(method).unwrap_or(HeaderValue::from_static("GET")),
        );
        h
    }

    #[test]
    fn allowed_origin_gets_the_policy_and_others_403() {
        let c = cors(&["https://app.example/"], false);
        let r = c.preflight(&Method::OPTIONS, &preflight("https://app.example", "PUT"));
        let r = r.unwrap_or_else(|| panic!("not answered"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap_or("")
                .contains("PUT")
        );
        let r = c.preflight(&Method::OPTIONS, &preflight("https://evil.example", "PUT"));
        assert_eq!(r.map(|r| r.status()), Some(StatusCode::FORBIDDEN));
        assert!(
            c.preflight(&Method::GET, &preflight("https://app.example", "PUT"))
                .is_none()
        );
    }

    #[test]
    fn readonly_offers_only_safe_methods_and_off_answers_nothing() {
        let c = cors(&["*"], true);
        let r = c.preflight(&Method::OPTIONS, &preflight("https://x.example", "POST"));
        assert_eq!(r.map(|r| r.status()), Some(StatusCode::FORBIDDEN));
        let off = cors(&[], false);
        assert!(!off.enabled());
        assert!(
            off.preflight(&Method::OPTIONS, &preflight("https://x", "GET"))
                .is_none()
        );
        let mut h = HeaderMap::new();
        c.decorate(Some(&HeaderValue::from_static("https://x.example")), &mut h);
        assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-total");
    }
}
