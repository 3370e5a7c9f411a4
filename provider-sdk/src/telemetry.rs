//! Logging, set up once by the SDK: `RUST_LOG` when set, else the host
//! data's `log_level`, else `info`; JSON lines when `structured_logging`.
//! Logs go to stderr. `async_nats` stays at `debug` at most unless named
//! explicitly: at `trace` it prints whole message payloads.
//! (W3C trace context across invocations is `lattice_rpc::trace`.)

use tracing_subscriber::EnvFilter;

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
