//! The keys file: the lattice's secrets, shared by every host of a lattice.
//!
//! It holds the cluster seed (the `iss` of the calls hosts send, and the
//! Ed25519 key hosts sign their own actors' calls with) and the lattice key
//! (from which every provider's HS256 key, every provider's xkey and the
//! hosts' control keys are derived). A host's own id is not in it: that is
//! per machine, in the state directory.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lattice_rpc::claims::LatticeKey;
use serde::{Deserialize, Serialize};

/// Where the keys file was found, for the line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--keys`.
    Flag,
    /// `LATTICE_KEYS`.
    Env,
    /// The default path.
    Default,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Flag => "from --keys",
            Source::Env => "from LATTICE_KEYS",
            Source::Default => "the default path",
        }
    }
}

/// The keys file's path and how it was chosen.
#[derive(Debug, Clone)]
pub struct Location {
    /// The path.
    pub path: PathBuf,
    /// How it was chosen.
    pub source: Source,
}

impl Location {
    /// `--keys`, else `LATTICE_KEYS`, else `$XDG_CONFIG_HOME/lattice/keys.toml`
    /// (`~/.config/lattice/keys.toml`).
    pub fn find(flag: Option<&Path>) -> Result<Self> {
        if let Some(p) = flag {
            return Ok(Self {
                path: p.to_path_buf(),
                source: Source::Flag,
            });
        }
        if let Some(p) = std::env::var_os("LATTICE_KEYS").filter(|p| !p.is_empty()) {
            return Ok(Self {
                path: p.into(),
                source: Source::Env,
            });
        }
        let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => home()?.join(".config"),
        };
        Ok(Self {
            path: base.join("lattice").join("keys.toml"),
            source: Source::Default,
        })
    }

    /// `keys: PATH (from --keys)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.path.display(), self.source.describe())
    }
}

/// The home directory, for default paths.
pub fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set: pass the path explicitly")
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysToml {
    cluster_seed: String,
    lattice_key: String,
}

/// The lattice's secrets, read from a keys file.
pub struct Keys {
    /// The cluster key (its seed).
    pub cluster: nkeys::KeyPair,
    /// The lattice key.
    pub lattice: LatticeKey,
    /// Where they were read from.
    pub location: Location,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("cluster", &self.cluster.public_key())
            .field("path", &self.location.path)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Reads the keys file at `location`, refusing one that others can read.
    pub fn load(location: Location) -> Result<Self> {
        let path = &location.path;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no keys file at {} ({}): create one with `lattice keys init`, or pass --keys / LATTICE_KEYS",
                path.display(),
                location.source.describe()
            ),
            Err(e) => bail!("cannot read the keys file {}: {e}", path.display()),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "the keys file {} is open to other users (mode {mode:o}): run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the keys file {}", path.display()))?;
        let raw: KeysToml = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), toml_error(&text, &e)))?;
        let cluster = nkeys::KeyPair::from_seed(raw.cluster_seed.trim()).map_err(|_| {
            anyhow::anyhow!("{}: cluster_seed is not an nkey seed (SC…)", path.display())
        })?;
        let lattice = LatticeKey::from_base64url(raw.lattice_key.trim()).map_err(|_| {
            anyhow::anyhow!(
                "{}: lattice_key is not base64url of 32 bytes",
                path.display()
            )
        })?;
        Ok(Self {
            cluster,
            lattice,
            location,
        })
    }

    /// Writes fresh keys to `location` (mode 0600); an existing file only
    /// with `force`.
    pub fn init(location: Location, force: bool) -> Result<Self> {
        let path = &location.path;
        if path.exists() && !force {
            bail!(
                "{} already exists: it may be the key of a running lattice; pass --force to replace it",
                path.display()
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let cluster = nkeys::KeyPair::new_cluster();
        let lattice = LatticeKey::generate();
        let body = KeysToml {
            cluster_seed: cluster
                .seed()
                .map_err(|e| anyhow::anyhow!("cannot encode the cluster seed: {e}"))?,
            lattice_key: lattice.to_base64url(),
        };
        let text = format!(
            "# The secrets of one lattice. Copy this file to every host of the lattice\n\
             # (mode 0600); anyone who reads it can act as any host or provider.\n{}",
            toml::to_string(&body).context("encoding the keys file")?
        );
        // Written beside the target and renamed, so a crash leaves the old file whole.
        let tmp = path.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move the keys into {}", path.display()))?;
        Ok(Self {
            cluster,
            lattice,
            location,
        })
    }
}

/// `line L, column C: message` for a TOML error.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {msg}")
        }
        None => msg.to_string(),
    }
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(dir: &Path) -> Location {
        Location {
            path: dir.join("keys.toml"),
            source: Source::Flag,
        }
    }

    #[test]
    fn init_writes_0600_and_load_reads_it_back() {
        let dir = tempdir();
        let written = Keys::init(at(&dir), false).expect("init");
        let mode = std::fs::metadata(dir.join("keys.toml"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = Keys::load(at(&dir)).expect("load");
        assert_eq!(read.cluster.public_key(), written.cluster.public_key());
        assert_eq!(read.lattice.to_base64url(), written.lattice.to_base64url());
        let again = Keys::init(at(&dir), false).expect_err("no overwrite");
        assert!(again.to_string().contains("--force"), "{again}");
        let replaced = Keys::init(at(&dir), true).expect("force");
        assert_ne!(replaced.cluster.public_key(), written.cluster.public_key());
    }

    #[test]
    fn load_refuses_a_file_others_can_read_and_names_a_missing_one() {
        let dir = tempdir();
        Keys::init(at(&dir), false).expect("init");
        let path = dir.join("keys.toml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = Keys::load(at(&dir)).expect_err("0644");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let e = Keys::load(at(&dir.join("nope"))).expect_err("missing");
        assert!(e.to_string().contains("lattice keys init"), "{e}");
    }

    #[test]
    fn a_damaged_keys_file_names_the_field() {
        let dir = tempdir();
        let path = dir.join("keys.toml");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .expect("create");
        f.write_all(b"cluster_seed = \"SCnope\"\nlattice_key = \"AAAA\"\n")
            .expect("write");
        let e = Keys::load(at(&dir)).expect_err("bad seed");
        assert!(e.to_string().contains("cluster_seed"), "{e}");
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lattice-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).expect("tempdir");
        d
    }
}
