//! Where host data comes from: stdin (launched by a host), or flags and
//! environment variables (started by hand).

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use lattice_rpc::host_data::{HostData, HostDataError};

/// What `--help` and `--version` say about the provider binary.
#[derive(Debug, Clone, Copy)]
pub struct About {
    /// The binary's name (its package name).
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// The link and provider config keys it accepts (from its config struct).
    pub config_keys: &'static [&'static str],
    /// The contract it serves (set by [`crate::run_with`]).
    pub contract_id: &'static str,
    /// Parses values (a JSON object) as its config struct, returning the
    /// keys it does not use: `--check`.
    pub check: fn(&str) -> Result<Vec<String>, crate::ConfigError>,
}

/// Flags of every provider binary. With none, host data is read from stdin.
#[derive(Debug, Parser)]
#[command(
    after_help = "Launched by a host, a provider reads its host data (base64 JSON, one line) from \
                  stdin and takes no flags. Started by hand, it builds the same from these flags; \
                  keys it generates are printed, their public halves only."
)]
pub struct Args {
    /// Read host data from FILE (base64 or JSON) instead of stdin; the flags below override it.
    #[arg(long, env = "PROVIDER_HOST_DATA", value_name = "FILE")]
    pub host_data: Option<PathBuf>,
    /// Lattice NATS URL.
    #[arg(long, env = "PROVIDER_NATS_URL")]
    pub nats_url: Option<String>,
    /// Lattice prefix.
    #[arg(long, env = "PROVIDER_LATTICE")]
    pub lattice: Option<String>,
    /// Link name this process serves.
    #[arg(long, env = "PROVIDER_LINK_NAME")]
    pub link_name: Option<String>,
    /// Provider public key (V…); generated when absent.
    #[arg(long, env = "PROVIDER_KEY")]
    pub provider_key: Option<String>,
    /// Seed to sign outgoing invocations with; generated when absent.
    #[arg(long, env = "PROVIDER_INVOCATION_SEED", hide_env_values = true)]
    pub invocation_seed: Option<String>,
    /// Public key trusted to sign invocations (repeatable); the invocation key when none.
    #[arg(long = "cluster-issuer", value_name = "PUBLIC_KEY")]
    pub cluster_issuers: Vec<String>,
    /// Host id (public key of the host).
    #[arg(long, env = "PROVIDER_HOST_ID")]
    pub host_id: Option<String>,
    /// Instance id of this process.
    #[arg(long, env = "PROVIDER_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Provider-wide config value (repeatable); the keys are listed below.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Concurrent invocations before answering `overloaded`.
    #[arg(long, env = "PROVIDER_MAX_INFLIGHT")]
    pub max_inflight: Option<u32>,
    /// Tokio worker threads (0: single-threaded runtime).
    #[arg(long, env = "PROVIDER_WORKER_THREADS")]
    pub worker_threads: Option<u32>,
    /// Log level when RUST_LOG is not set.
    #[arg(long, env = "PROVIDER_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// JSON log lines.
    #[arg(long, env = "PROVIDER_STRUCTURED_LOGGING")]
    pub structured_logging: bool,
    /// Print what this binary is (name, version, contract, config keys) as
    /// one JSON object, and exit.
    #[arg(long, exclusive = true)]
    pub describe: bool,
    /// Check config or link values, one JSON object read from stdin, with
    /// this provider's parser, and exit: 0 when they parse (unused keys are
    /// listed on stderr), 1 with the key at fault otherwise.
    #[arg(long, exclusive = true)]
    pub check: bool,
}

/// Why host data could not be built. Names the flag or file at fault, never
/// a seed or a value.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value is unusable.
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag, such as `--lattice`.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The host data file is unreadable or unusable.
    #[error("{}: {reason}", .file.display())]
    File {
        /// The file given with `--host-data`.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Host data from stdin is unusable.
    #[error(transparent)]
    HostData(#[from] HostDataError),
}

impl Args {
    /// The flag a host data field comes from, when it was given as one.
    fn flag_for(&self, field: &str) -> Option<&'static str> {
        let given = |set: bool, flag| set.then_some(flag);
        match field {
            "lattice_rpc_prefix" => given(self.lattice.is_some(), "--lattice"),
            "link_name" => given(self.link_name.is_some(), "--link-name"),
            "provider_key" => given(self.provider_key.is_some(), "--provider-key"),
            "invocation_seed" => given(self.invocation_seed.is_some(), "--invocation-seed"),
            "cluster_issuers" => given(!self.cluster_issuers.is_empty(), "--cluster-issuer"),
            "max_inflight" => given(self.max_inflight.is_some(), "--max-inflight"),
            "host_id" => given(self.host_id.is_some(), "--host-id"),
            _ => None,
        }
    }
}

/// The clap command for `about`: name, version, and the config keys in the help.
pub fn command(about: &About) -> clap::Command {
    let mut cmd = Args::command()
        .name(about.name)
        .bin_name(about.name)
        .version(about.version)
        .about(about.description);
    if !about.config_keys.is_empty() {
        cmd = cmd.before_long_help(format!(
            "{}\n\nConfig keys (--config KEY=VALUE, link values, config_json): {}",
            about.description,
            about.config_keys.join(", ")
        ));
    }
    cmd
}

/// Host data for this process: from stdin when started without arguments and
/// stdin is not a terminal, otherwise from the flags. Prints generated public
/// keys to stdout.
pub fn load(about: &About) -> Result<HostData, CliError> {
    if std::env::args_os().len() <= 1 && !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| HostDataError::Io(e.to_string()))?;
        return Ok(HostData::parse(&line)?);
    }
    let matches = command(about).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if args.describe {
        println!("{}", describe(about));
        std::process::exit(0);
    }
    if args.check {
        let mut json = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut json);
        match (about.check)(&json) {
            Ok(unknown) => {
                if !unknown.is_empty() {
                    eprintln!(
                        "warning: keys this provider does not use: {}",
                        unknown.join(", ")
                    );
                }
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    let (hd, generated) = from_args(args)?;
    if !generated.is_empty() {
        println!("{}", generated.join(" "));
    }
    Ok(hd)
}

/// `--describe`: `{"name", "version", "contract_id", "config_keys"}`.
pub fn describe(about: &About) -> String {
    serde_json::json!({
        "name": about.name,
        "version": about.version,
        "contract_id": about.contract_id,
        "config_keys": about.config_keys,
    })
    .to_string()
}

/// Builds host data from flags; returns it and `name=public_key` lines for
/// every key that was generated.
pub fn from_args(args: Args) -> Result<(HostData, Vec<String>), CliError> {
    let mut generated = Vec::new();
    let mut hd = match &args.host_data {
        Some(path) => {
            let file_err = |reason: String| CliError::File {
                file: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
            // Not validated yet: flags may mend what the file lacks.
            HostData::parse_unchecked(&text).map_err(|e| file_err(e.to_string()))?
        }
        None => HostData {
            lattice_rpc_prefix: "default".into(),
            link_name: "default".into(),
            lattice_rpc_url: "127.0.0.1:4222".into(),
            ..HostData::default()
        },
    };
    let set = |dst: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            dst.clone_from(v);
        }
    };
    set(&mut hd.lattice_rpc_url, &args.nats_url);
    set(&mut hd.lattice_rpc_prefix, &args.lattice);
    set(&mut hd.link_name, &args.link_name);
    set(&mut hd.provider_key, &args.provider_key);
    set(&mut hd.invocation_seed, &args.invocation_seed);
    set(&mut hd.host_id, &args.host_id);
    set(&mut hd.instance_id, &args.instance_id);
    if hd.provider_key.is_empty() {
        hd.provider_key = nkeys::KeyPair::new_service().public_key();
        generated.push(format!("provider_key={}", hd.provider_key));
    }
    if hd.invocation_seed.is_empty() {
        let kp = nkeys::KeyPair::new_cluster();
        hd.invocation_seed = kp.seed().unwrap_or_default();
        generated.push(format!("invocation_key={}", kp.public_key()));
    }
    if !args.cluster_issuers.is_empty() {
        hd.cluster_issuers.clone_from(&args.cluster_issuers);
    }
    if hd.cluster_issuers.is_empty()
        && let Ok(kp) = nkeys::KeyPair::from_seed(&hd.invocation_seed)
    {
        hd.cluster_issuers.push(kp.public_key());
    }
    if hd.host_id.is_empty() {
        hd.host_id = hd.cluster_issuers.first().cloned().unwrap_or_default();
    }
    if !args.config.is_empty() {
        let mut map: HashMap<String, String> = match &hd.config_json {
            Some(json) => serde_json::from_str(json).unwrap_or_default(),
            None => HashMap::new(),
        };
        for kv in &args.config {
            let (k, v) = kv.split_once('=').ok_or_else(|| CliError::Flag {
                flag: "--config",
                reason: format!(
                    "expected KEY=VALUE, got a value without '=' (starting {:?})",
                    kv.chars().take(12).collect::<String>()
                ),
            })?;
            map.insert(k.to_string(), v.to_string());
        }
        hd.config_json = serde_json::to_string(&map).ok();
    }
    if args.max_inflight.is_some() {
        hd.max_inflight = args.max_inflight;
    }
    if args.worker_threads.is_some() {
        hd.worker_threads = args.worker_threads;
    }
    if args.log_level.is_some() {
        hd.log_level.clone_from(&args.log_level);
    }
    hd.structured_logging |= args.structured_logging;
    hd.validate().map_err(|e| match &e {
        HostDataError::Invalid { field, reason } => match args.flag_for(field) {
            Some(flag) => CliError::Flag {
                flag,
                reason: reason.clone(),
            },
            None => match &args.host_data {
                Some(file) => CliError::File {
                    file: file.clone(),
                    reason: e.to_string(),
                },
                None => CliError::HostData(e),
            },
        },
        _ => CliError::HostData(e),
    })?;
    Ok((hd, generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_alone_build_valid_host_data_with_generated_keys() {
        let args = Args::parse_from(["p", "--lattice", "lab", "--config", "url=redis://127.0.0.1"]);
        let (hd, generated) = from_args(args).unwrap();
        assert_eq!(hd.lattice_rpc_prefix, "lab");
        assert!(hd.provider_key.starts_with('V'));
        assert_eq!(hd.cluster_issuers.len(), 1);
        assert_eq!(generated.len(), 2);
        assert!(
            generated.iter().all(|g| !g.contains("=S")),
            "no seed printed"
        );
        assert!(hd.config_json.unwrap().contains("redis://127.0.0.1"));
    }

    #[test]
    fn config_without_equals_is_an_error_naming_the_flag() {
        let args = Args::parse_from(["p", "--config", "novalue"]);
        let err = from_args(args).unwrap_err().to_string();
        assert!(err.starts_with("--config:"), "{err}");
    }

    #[test]
    fn a_bad_flag_is_named_as_the_flag_and_a_bad_file_by_its_path() {
        let args = Args::parse_from(["p", "--lattice", "has.dot"]);
        let err = from_args(args).unwrap_err().to_string();
        assert!(err.starts_with("--lattice:"), "{err}");

        let dir = std::env::temp_dir().join(format!("sdk-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hd.json");
        std::fs::write(&file, "not base64 !!").unwrap();
        let args = Args::parse_from(["p", "--host-data", file.to_str().unwrap()]);
        let err = from_args(args).unwrap_err().to_string();
        assert!(err.starts_with(file.to_str().unwrap()), "{err}");
        let missing = dir.join("absent.json");
        let args = Args::parse_from(["p", "--host-data", missing.to_str().unwrap()]);
        let err = from_args(args).unwrap_err().to_string();
        assert!(err.contains("absent.json"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn help_and_version_name_the_provider_and_its_keys() {
        let about = About {
            name: "keyvalue-redis",
            version: "9.9.9",
            description: "keyvalue on Redis",
            config_keys: &["url", "connect_timeout_ms"],
            contract_id: "wasmcloud:keyvalue",
            check: crate::config::check_json::<Probe>,
        };
        let mut cmd = command(&about);
        assert_eq!(cmd.render_version().trim(), "keyvalue-redis 9.9.9");
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("keyvalue on Redis"), "{help}");
        assert!(help.contains("connect_timeout_ms"), "{help}");
        let d: serde_json::Value = serde_json::from_str(&describe(&about)).unwrap();
        assert_eq!(d["contract_id"], "wasmcloud:keyvalue");
        assert_eq!(d["config_keys"][1], "connect_timeout_ms");
        assert_eq!(d["name"], "keyvalue-redis");
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        url: Option<String>,
        connect_timeout_ms: Option<u64>,
    }

    #[test]
    fn check_names_the_key_at_fault_and_lists_unused_ones() {
        let unknown =
            crate::config::check_json::<Probe>(r#"{"url": "redis://x", "extra": "1"}"#).unwrap();
        assert_eq!(unknown, vec!["extra".to_string()]);
        let e = crate::config::check_json::<Probe>(r#"{"connect_timeout_ms": "soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("connect_timeout_ms"), "{e}");
        let e = crate::config::check_json::<Probe>("[1]")
            .unwrap_err()
            .to_string();
        assert!(!e.is_empty());
    }
}
