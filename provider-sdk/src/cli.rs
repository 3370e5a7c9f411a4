//! Where host data comes from: stdin (launched by a host), or flags and
//! environment variables (started by hand).

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::Parser;

use crate::host_data::{HostData, HostDataError};

/// Flags of every provider binary. With none, host data is read from stdin.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "A lattice capability provider. Launched by a host, it reads its host data \
             (base64 JSON) from stdin; started by hand, it builds the same from these flags."
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
    /// Provider-wide config value (repeatable).
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
}

/// Host data for this process: from stdin when started without arguments and
/// stdin is not a terminal, otherwise from the flags. Prints generated public
/// keys to stdout.
pub fn load() -> Result<HostData, HostDataError> {
    if std::env::args_os().len() <= 1 && !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| HostDataError::Io(e.to_string()))?;
        return HostData::parse(&line);
    }
    let args = Args::parse();
    let (hd, generated) = from_args(args)?;
    if !generated.is_empty() {
        println!("{}", generated.join(" "));
    }
    Ok(hd)
}

/// Builds host data from flags; returns it and `name=public_key` lines for
/// every key that was generated.
pub fn from_args(args: Args) -> Result<(HostData, Vec<String>), HostDataError> {
    let mut generated = Vec::new();
    let mut hd = match &args.host_data {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| HostDataError::Io(e.to_string()))?;
            HostData::parse(&text)?
        }
        None => HostData {
            lattice_rpc_prefix: "default".into(),
            link_name: "default".into(),
            lattice_rpc_url: "127.0.0.1:4222".into(),
            ..HostData::default()
        },
    };
    let set = |dst: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set(&mut hd.lattice_rpc_url, args.nats_url);
    set(&mut hd.lattice_rpc_prefix, args.lattice);
    set(&mut hd.link_name, args.link_name);
    set(&mut hd.provider_key, args.provider_key);
    set(&mut hd.invocation_seed, args.invocation_seed);
    set(&mut hd.host_id, args.host_id);
    set(&mut hd.instance_id, args.instance_id);
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
        hd.cluster_issuers = args.cluster_issuers;
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
        for kv in args.config {
            let (k, v) = kv.split_once('=').ok_or_else(|| HostDataError::Invalid {
                field: "config",
                reason: format!("expected KEY=VALUE, got a value without '=' for {:?}", {
                    kv.chars().take(20).collect::<String>()
                }),
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
        hd.log_level = args.log_level;
    }
    hd.structured_logging |= args.structured_logging;
    hd.validate()?;
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
    fn config_without_equals_is_an_error() {
        let args = Args::parse_from(["p", "--config", "novalue"]);
        assert!(from_args(args).is_err());
    }
}
