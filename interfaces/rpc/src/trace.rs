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

/// A fast random source for trace and span ids (not secrets): wyrand,
/// seeded per thread from the operating system once, so no call makes a
/// system call.
fn next_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(u64::from_le_bytes(random_bytes::<8>()));
    }
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// Appends `N` random bytes as lowercase hex, never all zeros (W3C forbids
/// an all-zero trace or span id).
fn push_random_id<const N: usize>(out: &mut String) {
    let mut bytes = [0u8; N];
    for chunk in bytes.chunks_mut(8) {
        let r = next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    if bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    out.push_str(&hex_lower(&bytes));
}

/// A random id of `N` bytes in lowercase hex, never all zeros.
#[cfg(test)]
fn random_id<const N: usize>() -> String {
    let mut out = String::new();
    push_random_id::<N>(&mut out);
    out
}

/// The context for an outgoing call: the current trace id (or a new one) with
/// a fresh span id; `tracestate` is passed on unchanged.
pub fn outgoing() -> TraceContext {
    // traceparent: "00-" trace id (32) "-" span id (16) "-" flags (2).
    let mut tp = String::with_capacity(55);
    tp.push_str("00-");
    let state = CURRENT
        .try_with(|c| {
            if let (Some(id), Some(parent)) = (trace_id(c), c.get("traceparent")) {
                tp.push_str(id);
                tp.push('-');
                push_random_id::<8>(&mut tp);
                tp.push('-');
                tp.push_str(parent.rsplit('-').next().unwrap_or("01"));
                return c.get("tracestate").cloned();
            }
            push_fresh(&mut tp);
            None
        })
        .unwrap_or_else(|_| {
            push_fresh(&mut tp);
            None
        });
    let mut out = HashMap::with_capacity(2);
    out.insert("traceparent".to_string(), tp);
    if let Some(state) = state {
        out.insert("tracestate".to_string(), state);
    }
    out
}

/// A new trace: its id, a span id, and the sampled flag.
fn push_fresh(tp: &mut String) {
    push_random_id::<16>(tp);
    tp.push('-');
    push_random_id::<8>(tp);
    tp.push_str("-01");
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
        let tp = &fresh["traceparent"];
        assert_eq!(tp.len(), 55, "{tp}");
        assert!(tp.starts_with("00-") && tp.ends_with("-01"), "{tp}");
        assert_ne!(outgoing()["traceparent"], *tp);
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
