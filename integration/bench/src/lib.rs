//! What the benchmark binaries share: a bounded closed-loop load with
//! latency percentiles, and starting this same binary in another role (the
//! ideal path's responder) as its own process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::AsyncBufReadExt;

/// Throughput and latency of one measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Completed operations per second.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Operations that failed.
    pub errors: usize,
}

/// Summarises latencies collected over `elapsed`.
pub fn summarize(mut latencies: Vec<Duration>, elapsed: Duration, errors: usize) -> Measure {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Measure {
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

/// Runs `call(i)` from `in_flight` tasks until `requests` calls were made or
/// `seconds` passed; a call returns whether it succeeded.
pub async fn measure<F, Fut>(in_flight: usize, requests: usize, seconds: u64, call: F) -> Measure
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (call, next, errors) = (call.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                if call(i).await {
                    lat.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    summarize(all, started.elapsed(), errors.load(Ordering::Relaxed))
}

/// Starts this binary again with `args` and waits until it prints `ready`.
/// The child is killed when the handle is dropped.
pub async fn spawn_self(args: &[&str]) -> Result<tokio::process::Child> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    tokio::io::BufReader::new(out).read_line(&mut line).await?;
    anyhow::ensure!(line.trim() == "ready", "{args:?} did not start");
    Ok(child)
}
