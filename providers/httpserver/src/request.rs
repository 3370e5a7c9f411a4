//! One HTTP request: find its route, apply the route's limits (readonly,
//! CORS preflight, body size and time), forward it to the route's actor as
//! `HttpServer.HandleRequest`, and turn the answer (or the failure) into a
//! response.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use httpserver_interface::{HttpRequest, HttpResponse};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::cors::is_safe_method;
use crate::error::status_for;
use crate::routes::{Route, RouteTable};

/// How long a client may take to send a request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let reason = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let mut r = Response::new(Full::new(Bytes::from(format!("{reason}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answers one HTTP request received on a listener with `routes`.
pub async fn respond(routes: &RouteTable, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let host = req.uri().host().map(str::to_string).or_else(|| {
        let h = req.headers().get(header::HOST)?.to_str().ok()?;
        // `name:port`, `[v6]:port`: drop the port.
        let name = match h.rfind(':') {
            Some(i) if !h[i..].contains(']') => &h[..i],
            _ => h,
        };
        Some(name.to_string())
    });
    let Some(route) = routes.route_for(host.as_deref(), req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND);
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = forward(&route, req).await;
    let s = &route.settings;
    if let Some(cc) = &s.cache_control
        && !resp.headers().contains_key(header::CACHE_CONTROL)
    {
        resp.headers_mut().insert(header::CACHE_CONTROL, cc.clone());
    }
    s.cors.decorate(origin.as_ref(), resp.headers_mut());
    resp
}

async fn forward(route: &Route, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let s = &route.settings;
    if s.readonly && !is_safe_method(req.method()) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return r;
    }
    if let Some(preflight) = s.cors.preflight(req.method(), req.headers()) {
        return preflight;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_content_len) {
        return plain(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let (parts, body) = req.into_parts();
    let limit = usize::try_from(s.max_content_len).unwrap_or(usize::MAX);
    let body =
        match tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return plain(StatusCode::PAYLOAD_TOO_LARGE);
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "request body could not be read");
                return plain(StatusCode::BAD_REQUEST);
            }
            Err(_) => return plain(StatusCode::REQUEST_TIMEOUT),
        };
    let mut header = httpserver_interface::HeaderMap::new();
    for (name, value) in &parts.headers {
        header
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    if !header.contains_key("host")
        && let Some(authority) = parts.uri.authority()
    {
        header.insert("host".into(), vec![authority.to_string()]);
    }
    let request = HttpRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query_string: parts.uri.query().unwrap_or("").to_string(),
        header,
        body: body.to_vec(),
    };
    match httpserver_interface::forward(&route.ctx, &route.actor, &request, s.timeout).await {
        Ok(r) => to_hyper(r),
        Err(e) => {
            // The code only: an actor's error text may hold anything.
            tracing::warn!(actor = %route.actor, code = %e.code, "actor call failed");
            plain(status_for(&e))
        }
    }
}

/// Headers hyper computes itself; an actor's value could break framing.
fn framing(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
        || name.as_str() == "keep-alive"
}

/// The actor's response as sent to the client. A status outside 200–599
/// becomes 500; invalid or framing headers are dropped.
fn to_hyper(r: HttpResponse) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(r.status_code)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .unwrap_or_else(|| {
            tracing::debug!(status = r.status_code, "actor answered an invalid status");
            StatusCode::INTERNAL_SERVER_ERROR
        });
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    for (name, values) in r.header {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            tracing::debug!("actor sent an invalid header name; dropped");
            continue;
        };
        if framing(&name) {
            continue;
        }
        for v in values {
            match HeaderValue::from_str(&v) {
                Ok(v) => {
                    headers.append(name.clone(), v);
                }
                Err(_) => {
                    tracing::debug!(header = %name, "actor sent an invalid header value; dropped")
                }
            }
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_responses_are_sanitised() {
        let r = to_hyper(
            HttpResponse::with_status(1000, "x")
                .with_header("content-length", "999")
                .with_header("bad header", "v")
                .with_header("x-ok", "a")
                .with_header("x-ok", "b")
                .with_header("x-bad-value", "line\nbreak"),
        );
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!r.headers().contains_key(header::CONTENT_LENGTH));
        assert_eq!(r.headers().get_all("x-ok").iter().count(), 2);
        assert!(!r.headers().contains_key("x-bad-value"));
        assert_eq!(to_hyper(HttpResponse::with_status(101, "")).status(), 500);
        assert_eq!(to_hyper(HttpResponse::with_status(204, "")).status(), 204);
    }
}
