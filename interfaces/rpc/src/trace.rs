//! W3C trace context across invocations (`traceContext`, CONTRACT.md section 5).
//!
//! An incoming invocation's context is kept for the duration of its
//! handling ([`with_trace_context`]); calls made meanwhile carry the same
//! trace id with a new span id ([`outgoing`]). A call made outside any
//! invocation (an HTTP request, a subscription message) starts a new trace.

use std::collections::HashMap;

use crate::codec::{hex_lower, random_bytes};
use crate::wire::TraceContext;

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

/// A random id of `N` bytes in lowercase hex, never all zeros (W3C forbids
/// an all-zero trace or span id).
fn random_id<const N: usize>() -> String {
    let mut bytes: [u8; N] = random_bytes();
    if bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    hex_lower(&bytes)
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
            _ => (random_id::<16>(), "01".to_string(), None),
        },
        None => (random_id::<16>(), "01".to_string(), None),
    };
    let mut out = HashMap::with_capacity(2);
    out.insert(
        "traceparent".to_string(),
        format!("00-{trace_id}-{}-{flags}", random_id::<8>()),
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

    #[test]
    fn span_ids_have_no_fixed_digit() {
        // A UUID-based id had a constant version nibble; a random one varies
        // in every position over a few hundred draws.
        let ids: Vec<String> = (0..400).map(|_| random_id::<8>()).collect();
        for pos in 0..16 {
            let first = ids[0].as_bytes()[pos];
            assert!(
                ids.iter().any(|id| id.as_bytes()[pos] != first),
                "hex digit {pos} never changes"
            );
        }
    }
}
