//! The component host's configuration: the provider-wide config `lattice up`
//! hands it for one `[[component]]` of the manifest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Linear memory one instance may grow to, by default.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 256;
/// Instances alive at once (requests in flight), by default.
pub const DEFAULT_MAX_INSTANCES: u32 = 16;

/// One component, as the host runs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The component: a `.wasm` file (component model, WASI 0.2).
    pub wasm: PathBuf,
    /// Its actor key (`M…`): the subject it is served on and the origin of
    /// its calls.
    pub actor: String,
    /// The lattice's keys file (mode 0600): the host signs the component's
    /// calls and checks the providers' calls with it. Default: where
    /// `lattice` looks (`LATTICE_KEYS`, then the user's config directory).
    #[serde(default)]
    pub keys_file: Option<PathBuf>,
    /// Its name in logs (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// What `wasi:config/runtime` answers: a JSON object of strings.
    #[serde(default)]
    pub config: Option<String>,
    /// Its environment (`wasi:cli/environment`): a JSON object of strings.
    /// Nothing else of the host's environment is visible.
    #[serde(default)]
    pub env: Option<String>,
    /// Linear memory one instance may grow to, MiB.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// Time one request may run inside the component, ms; past it the
    /// instance traps and the caller gets a 500 (or the handler's error).
    /// Default: the lattice's default RPC timeout (host data
    /// `default_rpc_timeout_ms`), so no instance works on after its caller
    /// gave up.
    #[serde(default)]
    pub time_limit_ms: Option<u64>,
    /// Instances alive at once; further requests wait for one to finish.
    #[serde(default)]
    pub max_instances: Option<u32>,
    /// Where compiled components are kept (default
    /// `$XDG_CACHE_HOME/lattice/components`, else `~/.cache/lattice/components`).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

impl ComponentConfig {
    /// The component's name in logs.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.wasm
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "component".into())
        })
    }

    /// `config` parsed (an object of strings).
    pub fn config_values(&self) -> Result<BTreeMap<String, String>, String> {
        string_map("config", self.config.as_deref())
    }

    /// `env` parsed (an object of strings).
    pub fn env_values(&self) -> Result<BTreeMap<String, String>, String> {
        string_map("env", self.env.as_deref())
    }

    /// The memory limit, bytes.
    pub fn memory_limit_bytes(&self) -> usize {
        let mb = self.memory_limit_mb.unwrap_or(DEFAULT_MEMORY_LIMIT_MB);
        usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The time limit, ms, given the lattice's default RPC timeout.
    pub fn time_limit_ms(&self, rpc_timeout_ms: u64) -> u64 {
        self.time_limit_ms.unwrap_or(rpc_timeout_ms).max(1)
    }

    /// Instances alive at once.
    pub fn max_instances(&self) -> u32 {
        self.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES).max(1)
    }

    /// The compiled-component cache: `cache_dir`, else
    /// `$XDG_CACHE_HOME/lattice/components`, else
    /// `$HOME/.cache/lattice/components`; none (compile at every start)
    /// when neither variable is set, rather than a shared directory.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if let Some(d) = &self.cache_dir {
            return Some(d.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(base.join("lattice").join("components"))
    }

    /// Checks what can be checked without loading the component.
    pub fn validate(&self) -> Result<(), String> {
        if !self.actor.starts_with('M') || nkeys::KeyPair::from_public_key(&self.actor).is_err() {
            return Err(format!(
                "actor {:?} is not an actor's public key (M…, 56 characters)",
                self.actor
            ));
        }
        self.config_values()?;
        self.env_values()?;
        if self.memory_limit_mb == Some(0) {
            return Err("memory_limit_mb must be at least 1".into());
        }
        Ok(())
    }
}

fn string_map(what: &str, json: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let Some(json) = json.filter(|s| !s.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(json).map_err(|e| format!("{what} must be a JSON object of strings ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ComponentConfig {
        ComponentConfig {
            wasm: "/x/notes.wasm".into(),
            actor: nkeys::KeyPair::new_module().public_key(),
            keys_file: None,
            name: None,
            config: None,
            env: None,
            memory_limit_mb: None,
            time_limit_ms: None,
            max_instances: None,
            cache_dir: None,
        }
    }

    #[test]
    fn defaults_and_names() {
        let c = base();
        assert_eq!(c.display_name(), "notes");
        assert_eq!(c.memory_limit_bytes(), 256 << 20);
        assert_eq!(c.time_limit_ms(2000), 2000);
        let c = ComponentConfig {
            time_limit_ms: Some(300),
            ..base()
        };
        assert_eq!(c.time_limit_ms(2000), 300);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let mut c = base();
        c.actor = "VABC".into();
        assert!(c.validate().unwrap_err().contains("actor"));
        let mut c = base();
        c.config = Some("[1]".into());
        assert!(c.validate().unwrap_err().starts_with("config must be"));
        let mut c = base();
        c.env = Some(r#"{"A": 1}"#.into());
        assert!(c.validate().unwrap_err().starts_with("env must be"));
        let mut c = base();
        c.config = Some(r#"{"bucket": "b1"}"#.into());
        assert_eq!(c.config_values().unwrap()["bucket"], "b1");
    }
}
