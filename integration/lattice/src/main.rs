//! `lattice`: the operator's command line for a lattice of providers.
//!
//! `lattice keys init` makes the lattice's secrets; `lattice up MANIFEST`
//! runs a host in the foreground (launch, link, supervise, drain); every
//! other command works from any machine through the lattice's shared state
//! in NATS: `link`, `call`, `ps`, `health`, `stop`, `replace`, `logs`
//! (this machine's), `check` (contract suites), `completions`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod call;
mod check;
mod cmd;
mod hostctl;
mod links;
mod local;
mod manifest;
mod out;
mod provider_bin;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lattice",
    version,
    about = "Run, link, call, inspect and replace capability providers",
    after_help = call::EXIT_CODES
)]
struct Cli {
    /// NATS of the lattice (default: the manifest's for `up`, else nats://127.0.0.1:4222).
    #[arg(long, env = "LATTICE_NATS_URL", global = true)]
    nats_url: Option<String>,
    /// The lattice prefix (commands other than `up`, which reads its manifest).
    #[arg(long, env = "LATTICE_PREFIX", default_value = "default", global = true)]
    lattice: String,
    /// The keys file (default: LATTICE_KEYS, else ~/.config/lattice/keys.toml).
    #[arg(long, global = true, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// This machine's state directory (default: LATTICE_STATE_DIR, else
    /// ~/.local/state/lattice).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Show error causes in full, and backtraces when RUST_BACKTRACE is set.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The lattice's keys file.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Run a host in the foreground: launch the manifest's providers, apply
    /// its links, restart what fails, drain on Ctrl-C or SIGTERM.
    Up {
        /// The manifest (TOML).
        manifest: PathBuf,
    },
    /// Links between actors and providers.
    Link {
        #[command(subcommand)]
        cmd: LinkCmd,
    },
    /// Call an operation of a provider as a linked actor.
    Call {
        /// The provider's name (as its manifest names it).
        provider: String,
        /// The operation, such as `KeyValue.Get`.
        operation: String,
        /// The argument as JSON (default: null).
        arg: Option<String>,
        /// The calling actor (default: the one actor linked to the provider).
        #[arg(long)]
        actor: Option<String>,
        /// Send this file's bytes as the argument, unencoded (operations this
        /// command does not know).
        #[arg(long, value_name = "FILE", conflicts_with = "arg")]
        raw: Option<PathBuf>,
        /// How long to wait for the answer, milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Provider instances on the lattice: host, pid, uptime, health, calls in flight.
    Ps,
    /// Health of every provider (exit 1 when one is unhealthy or silent).
    Health,
    /// Stop every instance of a provider (its host does not restart them).
    Stop {
        /// The provider's name.
        provider: String,
        /// How long in-flight calls may drain, milliseconds.
        #[arg(long, default_value_t = 5000)]
        drain_ms: u64,
    },
    /// Replace a provider's instances: start new ones, wait until healthy,
    /// drain the old ones. No call fails.
    Replace {
        /// The provider's name.
        provider: String,
        /// The binary the new instances run (a path on the host's machine;
        /// default: the current one).
        #[arg(long)]
        binary: Option<String>,
        /// For a component: the new `.wasm` its new instances run (a path
        /// on the host's machine). A new version of the component rolls out
        /// with no request failed.
        #[arg(long)]
        wasm: Option<String>,
        /// How long the old instances may drain, milliseconds.
        #[arg(long, default_value_t = 5000)]
        drain_ms: u64,
    },
    /// A provider's log on this machine.
    Logs {
        /// The provider's name.
        provider: String,
        /// Keep printing what it writes.
        #[arg(long, short)]
        follow: bool,
        /// Lines to show from the end.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
    },
    /// Run a contract suite against a provider.
    Check {
        #[command(subcommand)]
        suite: check::Suite,
    },
    /// Launch the SDK's example provider, link an actor, call it, shut it down.
    Demo,
    /// Shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Make a new keys file (cluster seed and lattice key), mode 0600.
    Init {
        /// Replace an existing keys file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum LinkCmd {
    /// Link an actor to a provider (recorded in the lattice state, applied at once).
    Put {
        /// The provider's name.
        provider: String,
        /// The actor's public key (M…), or a component's name.
        actor: String,
        /// A link value (repeatable).
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// A secret link value, sealed to the provider: KEY=env:VAR or
        /// KEY=file:PATH (repeatable; the value never appears on the command line).
        #[arg(long = "secret", value_name = "KEY=SOURCE")]
        secrets: Vec<String>,
    },
    /// Remove a link.
    Del {
        /// The provider's name.
        provider: String,
        /// The actor's public key (M…), or a component's name.
        actor: String,
    },
    /// List links.
    Ls {
        /// Only this provider's.
        provider: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    // One line for people, never a backtrace, unless --verbose.
    std::panic::set_hook(Box::new(move |info| {
        if verbose {
            eprintln!("{info}\n{}", std::backtrace::Backtrace::capture());
        } else {
            eprintln!("error: internal failure: {info}");
        }
    }));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(cmd::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if verbose {
                eprintln!("error: {e:?}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
