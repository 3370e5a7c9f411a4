//! Logging and W3C trace context.
//!
//! Logging is set up once by the SDK: `RUST_LOG` when set, else the host
//! data's `log_level`, else `info`; JSON lines when `structured_logging`.
//! Logs go to stderr. `async_nats` stays at `debug` at most unless named
//! explicitly: at `trace` it prints whole message payloads.
//!
//! Trace context: an incoming invocation's `traceContext` is kept for the
//! duration of its handling; calls the provider makes meanwhile (to actors)
//! carry the same trace id with a new parent span id. A call made outside any
//! invocation (an HTTP request, a subscription message) starts a new trace.

use std::collections::HashMap;

use tracing_subscriber::EnvFilter;

use crate::wire::TraceContext;

/// Installs the global subscriber. Safe to call twice (the second does nothing).
pub fn init(log_level: Option<&str>, structured: bool) {
    let requested = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(log_level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // async-nats logs every message it sends and receives at trace level,
    // payloads included: link values, config, secrets. When trace is asked
    // for without naming async_nats, cap it at debug.
    // Only ever a cap: a filter without `trace` is left as it is.
    let spec = requested.as_deref().or(log_level).unwrap_or("info");
    let cap_nats = spec.to_ascii_lowercase().contains("trace") && !spec.contains("async_nats");
    let filter = if !cap_nats {
        filter
    } else {
        match "async_nats=debug".parse() {
            Ok(d) => filter.add_directive(d),
            Err(_) => filter,
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = if structured {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Runs `fut` with `ctx` as the current trace context.
pub async fn with_trace_context<F: Future>(ctx: TraceContext, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

/// The trace id of a `traceparent` header, when valid.
pub fn trace_id(ctx: &TraceContext) -> Option<&str> {
    let tp = ctx.get("traceparent")?;
    let mut parts = tp.split('-');
    let (_ver, id) = (parts.next()?, parts.next()?);
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(bytes * 2);
    out
}

/// The context for an outgoing call: the current trace id (or a new one) with
/// a fresh span id; `tracestate` is passed on unchanged.
pub fn outgoing() -> TraceContext {
    let current = CURRENT.try_with(Clone::clone).ok();
    let (trace_id, flags, state) = match &current {
        Some(c) => match (trace_id(c), c.get("traceparent")) {
            (Some(id), Some(tp)) => (
                id.to_string(),
                tp.rsplit('-').next().unwrap_or("01").to_string(),
                c.get("tracestate").cloned(),
            ),
            _ => (random_hex(16), "01".to_string(), None),
        },
        None => (random_hex(16), "01".to_string(), None),
    };
    let mut out = HashMap::with_capacity(2);
    out.insert(
        "traceparent".to_string(),
        format!("00-{trace_id}-{}-{flags}", random_hex(8)),
    );
    if let Some(state) = state {
        out.insert("tracestate".to_string(), state);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outgoing_calls_continue_the_current_trace() {
        let incoming: TraceContext = [(
            "traceparent".to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        )]
        .into_iter()
        .collect();
        let out = with_trace_context(incoming, async { outgoing() }).await;
        assert_eq!(trace_id(&out), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_ne!(
            out["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let fresh = outgoing();
        assert_eq!(trace_id(&fresh).map(str::len), Some(32));
    }
}
