//! Contract suites: one table of named cases per interface, runnable against
//! any provider on a lattice (given its key, link name and link values),
//! whatever language it is written in. Every suite is a [`Suite`]; a run
//! reads `keyvalue/<label>/set_then_get: ok`.
//!
//! The host library is re-exported as [`host`], so that a provider's tests
//! depend on this crate and the fixtures only.

#![deny(missing_docs)]

pub mod httpserver;
pub mod keyvalue;
pub mod messaging;
pub mod secrets;

pub use lattice_host as host;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// What a case's future returns.
pub type CaseResult = anyhow::Result<()>;

/// A boxed case future.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// One case: a name, what it checks, and the check.
pub struct Case<C: 'static> {
    /// Name, snake_case, read as behaviour.
    pub name: &'static str,
    /// What the case checks, in one sentence.
    pub checks: &'static str,
    /// The check.
    pub run: for<'a> fn(&'a C) -> CaseFuture<'a>,
}

/// The outcome of one case.
#[derive(Debug)]
pub struct Outcome {
    /// `interface/label/case`.
    pub name: String,
    /// `None` when it passed.
    pub failure: Option<String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The outcomes of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// One per case, in table order.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Cases that failed.
    pub fn failures(&self) -> Vec<&Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.failure.is_some())
            .collect()
    }

    /// True when every case passed.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.outcomes {
            match &o.failure {
                None => writeln!(f, "{}: ok ({:?})", o.name, o.elapsed)?,
                Some(e) => writeln!(f, "{}: FAILED: {e}", o.name)?,
            }
        }
        let failed = self.failures().len();
        write!(
            f,
            "{} passed, {failed} failed",
            self.outcomes.len() - failed
        )
    }
}

/// A contract suite: a context linked to the provider under test, and its
/// table of cases.
pub trait Suite: Sync + Sized + 'static {
    /// The interface, first part of every case name (`keyvalue`).
    const INTERFACE: &'static str;
    /// How long one case may take.
    const CASE_TIMEOUT: Duration = Duration::from_secs(60);

    /// Every case of the suite, in table order.
    fn cases() -> &'static [Case<Self>];

    /// Runs the cases whose name contains `filter` (all when `None`),
    /// concurrently, named `{INTERFACE}/{label}/{case}`. A filter that
    /// matches no case is a failed run, not an empty success.
    fn run(&self, label: &str, filter: Option<&str>) -> impl Future<Output = Report> + Send {
        run_cases(
            format!("{}/{label}", Self::INTERFACE),
            Self::cases(),
            self,
            filter,
            Self::CASE_TIMEOUT,
        )
    }
}

async fn run_cases<C: Sync + 'static>(
    prefix: String,
    cases: &'static [Case<C>],
    ctx: &C,
    filter: Option<&str>,
    per_case: Duration,
) -> Report {
    let selected: Vec<&Case<C>> = cases
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
        return Report {
            outcomes: vec![Outcome {
                name: format!("{prefix}/{}", filter.unwrap_or("")),
                failure: Some(format!(
                    "no case matches the filter; the cases are: {}",
                    names.join(", ")
                )),
                elapsed: Duration::ZERO,
            }],
        };
    }
    let prefix = &prefix;
    let selected = selected.into_iter();
    let runs = selected.map(|case| async move {
        let started = Instant::now();
        let failure = match tokio::time::timeout(per_case, (case.run)(ctx)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!(
                "{} (checks: {})",
                clip(&format!("{e:#}")),
                case.checks
            )),
            Err(_) => Some(format!("did not finish within {per_case:?}")),
        };
        Outcome {
            name: format!("{prefix}/{}", case.name),
            failure,
            elapsed: started.elapsed(),
        }
    });
    Report {
        outcomes: futures_util::future::join_all(runs).await,
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 600;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &s[..i], s.len()),
        None => s.to_string(),
    }
}

/// Polls `check` until it returns true, at most `within`; for expiry, which
/// has no event to wait on.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await? {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Declares a suite's table: `cases!(Ctx; name: "what it checks", …)` makes
/// `pub const CASES: &[Case<Ctx>]`, one entry per `async fn name(&Ctx)`.
macro_rules! cases {
    ($ctx:ty; $($name:ident: $checks:literal),* $(,)?) => {
        /// Every case of the suite.
        pub const CASES: &[$crate::Case<$ctx>] = &[
            $($crate::Case {
                name: stringify!($name),
                checks: $checks,
                run: |c| -> $crate::CaseFuture<'_> { Box::pin($name(c)) },
            }),*
        ];
    };
}
pub(crate) use cases;

/// Checks that `r` failed with one of `codes` (the stable wire codes, such
/// as `not-linked` or `keyvalue.no-such-store`): the one way every suite
/// checks an error.
pub fn expect_code<T: std::fmt::Debug>(
    r: Result<T, lattice_rpc::RpcError>,
    codes: &[&str],
) -> anyhow::Result<()> {
    match r {
        Ok(v) => anyhow::bail!("expected an error {codes:?}, got Ok({v:?})"),
        Err(e) if codes.contains(&e.code.as_str()) => Ok(()),
        Err(e) => anyhow::bail!("expected an error {codes:?}, got {e}"),
    }
}

/// Owned copies of `(key, value)` pairs.
pub fn owned_pairs(values: &[(&str, &str)]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Borrowed views of owned pairs, with `extra` appended.
pub fn pairs<'a>(
    owned: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// Asserts in a case: `ensure_eq!(left, right)` returns an error naming
/// both sides when they differ.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            anyhow::bail!("{} = {:?}, expected {:?}", stringify!($left), l, r);
        }
    }};
}

/// A host on a fresh lattice of the shared test NATS
/// ([`lattice_fixtures::nats_url`]) with a fresh lattice key: calls and
/// control messages are HS256, and the providers it launches refuse
/// anything else (`require_mac`).
pub async fn test_host() -> anyhow::Result<lattice_host::Host> {
    connect_test_host(
        lattice_host::Host::builder()
            .lattice_key(lattice_host::LatticeKey::generate())
            .require_mac(true),
    )
    .await
}

/// A host on a fresh lattice of the shared test NATS that signs Ed25519
/// with its cluster key, as a wasmbus 0.x host does.
pub async fn test_host_ed25519() -> anyhow::Result<lattice_host::Host> {
    connect_test_host(lattice_host::Host::builder()).await
}

async fn connect_test_host(b: lattice_host::HostBuilder) -> anyhow::Result<lattice_host::Host> {
    let url = lattice_fixtures::nats_url();
    b.nats_url(&url)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("the tests need NATS with JetStream at {url}: {e}"))
}
