//! `lattice up`'s manifest: the lattice, its providers and its links, in
//! TOML. Everything is checked before anything starts; every error names the
//! file and line.
//!
//! ```toml
//! [lattice]
//! prefix = "demo"                        # default "default"
//! nats_url = "nats://127.0.0.1:4222"     # default; LATTICE_NATS_URL overrides neither
//!
//! [[provider]]
//! name = "kv"                            # how commands name it; default: the binary's name
//! binary = "keyvalue-redis"              # a path, or a name found beside `lattice` or on PATH
//! instances = 1                          # processes serving it (queue group)
//! link_name = "default"
//! config = { url = "redis://127.0.0.1:6379" }   # provider-wide config
//! env = { RUST_LOG = "info" }
//!
//! [[component]]                         # a WebAssembly component, run by `lattice-components`
//! name = "notes"                         # how commands and links name it
//! wasm = "notes.wasm"                    # relative to this file
//! config = { bucket = "notes" }          # what `wasi:config/runtime` answers
//! env = { LANG = "C" }                   # its whole environment
//! memory_limit_mb = 256                  # per instance (one instance per request)
//! time_limit_ms = 2000                   # per request, then it traps: 500
//! max_instances = 16                     # requests in flight at once
//! # actor = "MB…"                        # default: derived from prefix and name
//!
//! [[link]]
//! actor = "MB…"                          # the actor's public key, or:
//! # component = "notes"                  # a component of this manifest
//! provider = "kv"
//! values = { url = "redis://127.0.0.1:6379/1" }
//! secrets = { password = { env = "REDIS_PASSWORD" }, token = { file = "/run/token" } }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use lattice_host::keys::{line_col, toml_error};
use serde::Deserialize;
use toml::Spanned;

/// A whole manifest, checked.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The lattice prefix.
    pub prefix: String,
    /// The lattice's NATS.
    pub nats_url: String,
    /// Providers, in the order they start.
    pub providers: Vec<ProviderSpec>,
    /// Links, in the order they are put.
    pub links: Vec<LinkSpec>,
    /// Components (each also among `providers`, run by [`COMPONENT_HOST`]).
    pub components: Vec<ComponentSpec>,
}

/// One component of a manifest.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Its name in commands and links.
    pub name: String,
    /// Its actor key.
    pub actor: String,
    /// The `.wasm` file, absolute.
    pub wasm: PathBuf,
}

/// One provider of a manifest.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// Its name in commands.
    pub name: String,
    /// The binary as written.
    pub binary: String,
    /// Processes serving it.
    pub instances: u32,
    /// Its link name.
    pub link_name: String,
    /// Provider-wide config (JSON object), if any.
    pub config: Option<serde_json::Value>,
    /// Environment for its processes.
    pub env: BTreeMap<String, String>,
    /// The contract, when the manifest states it.
    pub contract: Option<String>,
    /// Where it is declared (`file:line`).
    pub at: String,
}

/// The binary that runs components (`[[component]]` entries become
/// providers of this binary, so they are supervised, health-checked,
/// stopped and replaced like any provider).
pub const COMPONENT_HOST: &str = "lattice-components";
/// The contract the component host answers under.
pub const COMPONENT_CONTRACT: &str = "lattice:component";

/// How long a new instance of a provider of `contract` has to answer
/// health: 30 s, or 300 s for a component host, which compiles its
/// component on a first start (then loads it from its cache). `up` waits
/// this long for a launch, and `stop`/`replace` this long (and a minute
/// more) for the host's answer.
pub fn ready_within(contract: Option<&str>) -> std::time::Duration {
    match contract {
        Some(COMPONENT_CONTRACT) => std::time::Duration::from_secs(300),
        _ => std::time::Duration::from_secs(30),
    }
}

/// The actor key of component `name` in lattice `prefix` when the manifest
/// names none: the same on every host and every run, so links recorded in
/// the shared state keep pointing at it. It is an identity, not a secret:
/// calls are signed by hosts, never with an actor's key.
pub fn component_actor(prefix: &str, name: &str) -> String {
    use sha2::Digest;
    let seed: [u8; 32] =
        sha2::Sha256::digest(format!("lattice-component-actor-v1\0{prefix}\0{name}")).into();
    nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::Module, seed)
        .map(|k| k.public_key())
        .unwrap_or_default()
}

/// Where a secret's value comes from; the value itself is never in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of `lattice up`.
    Env(String),
    /// A file (its whole content, one trailing newline dropped).
    File(PathBuf),
}

/// One link of a manifest.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// The actor.
    pub actor: String,
    /// The provider's name in this manifest.
    pub provider: String,
    /// Plain values.
    pub values: BTreeMap<String, String>,
    /// Secrets and where to read them.
    pub secrets: BTreeMap<String, SecretSource>,
    /// Where it is declared (`file:line`).
    pub at: String,
}

impl LinkSpec {
    /// Reads every secret's value; an error names the secret and its source.
    pub fn read_secrets(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (name, source) in &self.secrets {
            let value = match source {
                SecretSource::Env(var) => match std::env::var(var) {
                    Ok(v) => v,
                    Err(_) => bail!(
                        "{}: secret `{name}` comes from the environment variable {var}, which is not set",
                        self.at
                    ),
                },
                SecretSource::File(path) => match std::fs::read_to_string(path) {
                    Ok(v) => v.strip_suffix('\n').map(str::to_string).unwrap_or(v),
                    Err(e) => bail!(
                        "{}: secret `{name}` comes from {}, which cannot be read: {e}",
                        self.at,
                        path.display()
                    ),
                },
            };
            out.push((name.clone(), value));
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    lattice: RawLattice,
    #[serde(default)]
    provider: Vec<Spanned<RawProvider>>,
    #[serde(default)]
    link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    component: Vec<Spanned<RawComponent>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    name: Spanned<String>,
    wasm: Spanned<String>,
    actor: Option<Spanned<String>>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    memory_limit_mb: Option<u64>,
    time_limit_ms: Option<u64>,
    max_instances: Option<u32>,
    #[serde(default = "one")]
    instances: Spanned<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLattice {
    prefix: Option<Spanned<String>>,
    nats_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: Option<Spanned<String>>,
    binary: Spanned<String>,
    #[serde(default = "one")]
    instances: Spanned<i64>,
    link_name: Option<Spanned<String>>,
    config: Option<toml::Table>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    contract: Option<String>,
}

fn one() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    actor: Option<Spanned<String>>,
    component: Option<Spanned<String>>,
    provider: Spanned<String>,
    #[serde(default)]
    values: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<RawSecret>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    env: Option<String>,
    file: Option<PathBuf>,
}

/// Link names, provider names and prefixes: what the lattice accepts in a
/// subject token.
fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
}

/// Turns a TOML value into the text a link value is (strings as they are,
/// numbers and booleans written out); tables and arrays are refused.
fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => bail!("cannot read the manifest {}: {e}", path.display()),
        };
        Self::parse(path, &text)
    }

    /// Checks the manifest `text` (read from `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let file = path.display().to_string();
        let at = |span: Range<usize>| format!("{file}:{}", line_col(text, span.start).0);
        let raw: Raw = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => bail!("{file}: {}", toml_error(text, &e)),
        };
        let prefix = match raw.lattice.prefix {
            Some(p) => {
                if !valid_token(p.get_ref()) {
                    bail!(
                        "{}: lattice prefix {:?} must be non-empty, without '.', '*', '>' or spaces",
                        at(p.span()),
                        p.get_ref()
                    );
                }
                p.into_inner()
            }
            None => "default".to_string(),
        };
        let nats_url = raw
            .lattice
            .nats_url
            .unwrap_or_else(|| "nats://127.0.0.1:4222".to_string());

        let mut providers = Vec::new();
        let mut names = HashSet::new();
        for p in raw.provider {
            let span = p.span();
            let p = p.into_inner();
            let binary = p.binary.get_ref().trim().to_string();
            if binary.is_empty() {
                bail!(
                    "{}: a provider's binary must not be empty",
                    at(p.binary.span())
                );
            }
            let name = match &p.name {
                Some(n) => n.get_ref().clone(),
                None => Path::new(&binary)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| binary.clone()),
            };
            let name_at = p.name.as_ref().map_or(span.clone(), |n| n.span());
            if !valid_token(&name) {
                bail!(
                    "{}: provider name {name:?} must be non-empty, without '.', '*', '>' or spaces",
                    at(name_at)
                );
            }
            if !names.insert(name.clone()) {
                bail!(
                    "{}: a second provider is named {name:?} (name one of them with `name = …`)",
                    at(name_at)
                );
            }
            let instances = *p.instances.get_ref();
            if !(1..=16).contains(&instances) {
                bail!(
                    "{}: provider {name:?}: instances must be 1 to 16, not {instances}",
                    at(if p.instances.span().is_empty() {
                        span.clone()
                    } else {
                        p.instances.span()
                    })
                );
            }
            let link_name = match &p.link_name {
                Some(l) if !valid_token(l.get_ref()) => bail!(
                    "{}: provider {name:?}: link name {:?} must be non-empty, without '.', '*', '>' or spaces",
                    at(l.span()),
                    l.get_ref()
                ),
                Some(l) => l.get_ref().clone(),
                None => "default".to_string(),
            };
            let config = match p.config {
                Some(t) => Some(serde_json::to_value(&t).map_err(|e| {
                    anyhow::anyhow!("{}: provider {name:?}: config: {e}", at(span.clone()))
                })?),
                None => None,
            };
            providers.push(ProviderSpec {
                name,
                binary,
                instances: instances as u32,
                link_name,
                config,
                env: p.env,
                contract: p.contract,
                at: at(span),
            });
        }

        let base = path.parent().unwrap_or(Path::new(""));
        let mut components = Vec::new();
        for c in raw.component {
            let span = c.span();
            let c = c.into_inner();
            let name = c.name.get_ref().clone();
            if !valid_token(&name) {
                bail!(
                    "{}: component name {name:?} must be non-empty, without '.', '*', '>' or spaces",
                    at(c.name.span())
                );
            }
            if !names.insert(name.clone()) {
                bail!(
                    "{}: {name:?} already names a provider or component of this manifest",
                    at(c.name.span())
                );
            }
            let wasm = base.join(c.wasm.get_ref().trim());
            if !wasm.is_file() {
                bail!(
                    "{}: component {name:?}: {} is not a file (build it first?)",
                    at(c.wasm.span()),
                    wasm.display()
                );
            }
            let wasm = std::fs::canonicalize(&wasm).unwrap_or(wasm);
            let actor = match &c.actor {
                Some(a) => {
                    let a_str = a.get_ref().trim().to_string();
                    if !a_str.starts_with('M') || nkeys::KeyPair::from_public_key(&a_str).is_err() {
                        bail!(
                            "{}: actor {a_str:?} is not an actor's public key (M…, 56 characters)",
                            at(a.span())
                        );
                    }
                    a_str
                }
                None => component_actor(&prefix, &name),
            };
            if let Some(other) = components
                .iter()
                .find(|x: &&ComponentSpec| x.actor == actor)
            {
                bail!(
                    "{}: component {name:?} has the actor key of component {:?}: each component needs its own",
                    at(span.clone()),
                    other.name
                );
            }
            let instances = *c.instances.get_ref();
            if !(1..=16).contains(&instances) {
                bail!(
                    "{}: component {name:?}: instances must be 1 to 16, not {instances}",
                    at(span)
                );
            }
            let mut config = serde_json::Map::new();
            for (k, v) in &c.config {
                match value_text(v) {
                    Some(t) => {
                        config.insert(k.clone(), serde_json::Value::String(t));
                    }
                    None => bail!(
                        "{}: component {name:?}: config `{k}` must be a string, number or boolean, not a {}",
                        at(span),
                        v.type_str()
                    ),
                }
            }
            let mut host_config = serde_json::json!({
                "wasm": wasm.display().to_string(),
                "actor": actor,
                "name": name,
                "config": serde_json::Value::Object(config).to_string(),
                "env": serde_json::to_string(&c.env).unwrap_or_default(),
            });
            for (k, v) in [
                ("memory_limit_mb", c.memory_limit_mb),
                ("time_limit_ms", c.time_limit_ms),
                ("max_instances", c.max_instances.map(u64::from)),
            ] {
                if let Some(v) = v {
                    host_config[k] = serde_json::json!(v);
                }
            }
            providers.push(ProviderSpec {
                name: name.clone(),
                binary: COMPONENT_HOST.to_string(),
                instances: instances as u32,
                link_name: "default".to_string(),
                config: Some(host_config),
                env: BTreeMap::new(),
                contract: Some(COMPONENT_CONTRACT.to_string()),
                at: at(span),
            });
            components.push(ComponentSpec { name, actor, wasm });
        }

        let mut links = Vec::new();
        let mut seen: HashMap<(String, String), String> = HashMap::new();
        for l in raw.link {
            let span = l.span();
            let l = l.into_inner();
            let here = at(span);
            let actor = match (&l.actor, &l.component) {
                (Some(a), None) => {
                    let actor = a.get_ref().trim().to_string();
                    if !actor.starts_with('M') || nkeys::KeyPair::from_public_key(&actor).is_err() {
                        bail!(
                            "{}: actor {actor:?} is not an actor's public key (M…, 56 characters)",
                            at(a.span())
                        );
                    }
                    actor
                }
                (None, Some(c)) => match components.iter().find(|x| &x.name == c.get_ref()) {
                    Some(x) => x.actor.clone(),
                    None => bail!(
                        "{}: the link names component {:?}, which this manifest does not declare",
                        at(c.span()),
                        c.get_ref()
                    ),
                },
                _ => bail!(
                    "{here}: a link needs exactly one of `actor = \"M…\"` or `component = \"NAME\"`"
                ),
            };
            if components.iter().any(|x| x.name == *l.provider.get_ref()) {
                bail!(
                    "{}: {:?} is a component; a link goes from an actor or component to a provider",
                    at(l.provider.span()),
                    l.provider.get_ref()
                );
            }
            let provider = l.provider.get_ref().clone();
            if !names.contains(&provider) {
                let mut known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                known.sort_unstable();
                bail!(
                    "{}: the link names provider {provider:?}, which this manifest does not declare (declared: {})",
                    at(l.provider.span()),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
            if let Some(first) = seen.insert((actor.clone(), provider.clone()), here.clone()) {
                bail!(
                    "{here}: a second link from {actor} to {provider:?} (the first is at {first})"
                );
            }
            let mut values = BTreeMap::new();
            for (k, v) in &l.values {
                match value_text(v) {
                    Some(t) => {
                        values.insert(k.clone(), t);
                    }
                    None => bail!(
                        "{here}: link value `{k}` must be a string, number or boolean, not a {}",
                        v.type_str()
                    ),
                }
            }
            let mut secrets = BTreeMap::new();
            for (k, s) in l.secrets {
                let s_at = at(s.span());
                let s = s.into_inner();
                let source = match (s.env, s.file) {
                    (Some(var), None) => SecretSource::Env(var),
                    (None, Some(file)) => SecretSource::File(file),
                    _ => bail!(
                        "{s_at}: secret `{k}` needs exactly one of `env = \"VAR\"` or `file = \"PATH\"` (a secret's value never goes in the manifest)"
                    ),
                };
                if values.keys().any(|v| v.eq_ignore_ascii_case(&k)) {
                    bail!("{s_at}: `{k}` is both a plain value and a secret of this link");
                }
                secrets.insert(k, source);
            }
            links.push(LinkSpec {
                actor,
                provider,
                values,
                secrets,
                at: here,
            });
        }

        Ok(Self {
            prefix,
            nats_url,
            providers,
            links,
            components,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTOR: &str = "MCATS5YOVB6ROX2WUNKGNQ2MP3GMXDMKSG2O4N5CLX3A6W4PZGZZJPUL";

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(Path::new("m.toml"), text)
    }

    #[test]
    fn a_full_manifest_reads_with_defaults() {
        let m = parse(&format!(
            r#"
[lattice]
prefix = "demo"

[[provider]]
binary = "target/debug/keyvalue-redis"
config = {{ url = "redis://127.0.0.1:6379", response_timeout_ms = 500 }}

[[provider]]
name = "kv2"
binary = "keyvalue-nats"
instances = 2
link_name = "other"

[[link]]
actor = "{ACTOR}"
provider = "keyvalue-redis"
values = {{ url = "redis://127.0.0.1:6379/1", tls = false, ttl = 3 }}
secrets = {{ password = {{ env = "PW" }} }}
"#
        ))
        .expect("parses");
        assert_eq!(m.prefix, "demo");
        assert_eq!(m.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(m.providers[0].name, "keyvalue-redis");
        assert_eq!(m.providers[0].instances, 1);
        assert_eq!(m.providers[0].link_name, "default");
        assert_eq!(
            m.providers[0].config,
            Some(serde_json::json!({"url": "redis://127.0.0.1:6379", "response_timeout_ms": 500}))
        );
        assert_eq!(m.providers[1].instances, 2);
        assert_eq!(m.providers[1].link_name, "other");
        let l = &m.links[0];
        assert_eq!(l.values["tls"], "false");
        assert_eq!(l.values["ttl"], "3");
        assert_eq!(l.secrets["password"], SecretSource::Env("PW".into()));
        assert_eq!(l.at, "m.toml:15");
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("must fail"))
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let e = err("[lattice]\nprefix = \"a\"\n[[provider]\nbinary = 1\n");
        assert!(e.starts_with("m.toml: line 3"), "{e}");
    }

    #[test]
    fn a_link_to_an_undeclared_provider_is_refused_with_its_line() {
        let e = err(&format!(
            "[[provider]]\nbinary = \"keyvalue-redis\"\n\n[[link]]\nactor = \"{ACTOR}\"\nprovider = \"redis\"\n"
        ));
        assert!(e.contains("m.toml:6"), "{e}");
        assert!(e.contains("does not declare"), "{e}");
        assert!(e.contains("keyvalue-redis"), "{e}");
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        for (text, want) in [
            (
                "[[provider]]\nbinary = \"x\"\nbogus = 1\n",
                "unknown field `bogus`",
            ),
            (
                "[[provider]]\nbinary = \"x\"\ninstances = 0\n",
                "instances must be 1 to 16",
            ),
            ("[[provider]]\nbinary = \"\"\n", "must not be empty"),
            (
                "[[provider]]\nbinary = \"a/x\"\n[[provider]]\nbinary = \"b/x\"\n",
                "a second provider is named \"x\"",
            ),
            ("[lattice]\nprefix = \"a.b\"\n", "lattice prefix"),
            (
                "[[provider]]\nbinary = \"x\"\nlink_name = \"a b\"\n",
                "link name",
            ),
            (
                "[[provider]]\nbinary = \"x\"\n[[link]]\nactor = \"Vnope\"\nprovider = \"x\"\n",
                "not an actor's public key",
            ),
            (
                &format!(
                    "[[provider]]\nbinary = \"x\"\n[[link]]\nactor = \"{ACTOR}\"\nprovider = \"x\"\nsecrets = {{ pw = {{ }} }}\n"
                ),
                "exactly one of",
            ),
            (
                &format!(
                    "[[provider]]\nbinary = \"x\"\n[[link]]\nactor = \"{ACTOR}\"\nprovider = \"x\"\nvalues = {{ a = [1] }}\n"
                ),
                "must be a string, number or boolean",
            ),
            (
                &format!(
                    "[[provider]]\nbinary = \"x\"\n[[link]]\nactor = \"{ACTOR}\"\nprovider = \"x\"\n[[link]]\nactor = \"{ACTOR}\"\nprovider = \"x\"\n"
                ),
                "a second link",
            ),
        ] {
            let e = err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn secrets_are_read_from_env_and_files_and_missing_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("lattice-m-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").expect("write");
        let link = LinkSpec {
            actor: ACTOR.into(),
            provider: "x".into(),
            values: BTreeMap::new(),
            secrets: [("password".to_string(), SecretSource::File(file.clone()))].into(),
            at: "m.toml:3".into(),
        };
        assert_eq!(
            link.read_secrets().expect("read"),
            vec![("password".to_string(), "s3cret".to_string())]
        );
        let missing = LinkSpec {
            secrets: [(
                "token".to_string(),
                SecretSource::Env("LATTICE_TEST_SURELY_UNSET_VAR".into()),
            )]
            .into(),
            ..link
        };
        let e = missing.read_secrets().expect_err("unset");
        assert!(
            e.to_string().contains("LATTICE_TEST_SURELY_UNSET_VAR"),
            "{e}"
        );
        assert!(e.to_string().starts_with("m.toml:3"), "{e}");
    }

    #[test]
    fn components_become_component_host_providers_and_links_name_them() {
        let dir = std::env::temp_dir().join(format!("lattice-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.wasm"), b"\0asm").unwrap();
        let path = dir.join("m.toml");
        let text = r#"
[lattice]
prefix = "p1"

[[provider]]
name = "kv"
binary = "keyvalue-redis"

[[component]]
name = "notes"
wasm = "app.wasm"
config = { bucket = "b", n = 3 }
time_limit_ms = 500

[[link]]
component = "notes"
provider = "kv"
"#;
        let m = Manifest::parse(&path, text).unwrap();
        let c = &m.components[0];
        assert_eq!(c.actor, component_actor("p1", "notes"));
        assert_ne!(c.actor, component_actor("p2", "notes"));
        assert_eq!(m.links[0].actor, c.actor);
        let p = m.providers.iter().find(|p| p.name == "notes").unwrap();
        assert_eq!(p.binary, COMPONENT_HOST);
        assert_eq!(p.contract.as_deref(), Some(COMPONENT_CONTRACT));
        let cfg = p.config.as_ref().unwrap();
        assert_eq!(cfg["time_limit_ms"], 500);
        assert_eq!(cfg["config"], r#"{"bucket":"b","n":"3"}"#);
        assert!(cfg["wasm"].as_str().unwrap().ends_with("app.wasm"));

        let bad = |t: &str| Manifest::parse(&path, t).unwrap_err().to_string();
        let e = bad("[[component]]\nname = \"x\"\nwasm = \"missing.wasm\"\n");
        assert!(e.contains("m.toml:3") && e.contains("is not a file"), "{e}");
        let e = bad(
            "[[component]]\nname = \"a\"\nwasm = \"app.wasm\"\n[[link]]\ncomponent = \"b\"\nprovider = \"kv\"\n",
        );
        assert!(e.contains("does not declare"), "{e}");
        let key = component_actor("p", "n");
        let e = bad(&format!(
            "[[component]]\nname = \"a\"\nwasm = \"app.wasm\"\nactor = \"{key}\"\n[[component]]\nname = \"b\"\nwasm = \"app.wasm\"\nactor = \"{key}\"\n"
        ));
        assert!(e.contains("has the actor key of component \"a\""), "{e}");
        let e = bad(&format!(
            "[[component]]\nname = \"a\"\nwasm = \"app.wasm\"\n[[provider]]\nname = \"kv\"\nbinary = \"x\"\n[[link]]\nactor = \"{key}\"\ncomponent = \"a\"\nprovider = \"kv\"\n"
        ));
        assert!(e.contains("exactly one of"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
