//! This machine's own state: the host id (generated once, never shared), the
//! lock that keeps two `lattice up` of one lattice apart, and the providers'
//! log files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A log file is rotated past this size (one older file is kept).
pub const LOG_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `--state-dir`, else `LATTICE_STATE_DIR`, else `$XDG_STATE_HOME/lattice`
    /// (`~/.local/state/lattice`).
    pub fn find(flag: Option<&Path>) -> Result<Self> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("LATTICE_STATE_DIR").filter(|p| !p.is_empty()) {
                Some(p) => p.into(),
                None => match std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
                    Some(p) => PathBuf::from(p).join("lattice"),
                    None => lattice_host::keys::home()?.join(".local/state/lattice"),
                },
            },
        };
        Ok(Self { root })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn ensure(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
    }

    /// This machine's host key, made on first use and kept (mode 0600).
    pub fn host_key(&self) -> Result<nkeys::KeyPair> {
        self.ensure(&self.root)?;
        let path = self.root.join("host.seed");
        match std::fs::read_to_string(&path) {
            Ok(seed) => nkeys::KeyPair::from_seed(seed.trim()).map_err(|_| {
                anyhow::anyhow!(
                    "{} does not hold a host seed: remove it to make a new host id",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = nkeys::KeyPair::new_server();
                let seed = key
                    .seed()
                    .map_err(|e| anyhow::anyhow!("cannot encode the host seed: {e}"))?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                f.write_all(seed.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(key)
            }
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        }
    }

    /// Takes the lock of lattice `prefix` on this machine: one `lattice up`
    /// at a time. Held until the file is dropped.
    pub fn lock(&self, prefix: &str) -> Result<File> {
        self.ensure(&self.root)?;
        let path = self
            .root
            .join(format!("up-{}.lock", lattice_host::state::escape(prefix)));
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => {
                f.set_len(0)?;
                writeln!(f, "{}", std::process::id())?;
                Ok(f)
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = f.read_to_string(&mut holder);
                bail!(
                    "another `lattice up` (pid {}) already runs lattice {prefix:?} from {}",
                    holder.trim(),
                    self.root.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                bail!("cannot lock {}: {e}", path.display())
            }
        }
    }

    /// The log file of provider `name` of lattice `prefix`.
    pub fn log_path(&self, prefix: &str, name: &str) -> PathBuf {
        self.root
            .join("logs")
            .join(lattice_host::state::escape(prefix))
            .join(format!("{}.log", lattice_host::state::escape(name)))
    }

    /// Creates the log directory of `prefix`.
    pub fn ensure_logs(&self, prefix: &str) -> Result<()> {
        self.ensure(
            &self
                .root
                .join("logs")
                .join(lattice_host::state::escape(prefix)),
        )
    }
}

/// Keeps a log file under [`LOG_MAX_BYTES`]: past it, the file is copied to
/// `NAME.log.1` and truncated. Processes write to it with `O_APPEND`, so
/// they go on at the new end; a line written between the copy and the
/// truncation can be lost.
pub fn rotate_if_large(path: &Path) -> Result<bool> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(false);
    };
    if meta.len() <= LOG_MAX_BYTES {
        return Ok(false);
    }
    let old = path.with_extension("log.1");
    std::fs::copy(path, &old).with_context(|| format!("cannot copy {}", path.display()))?;
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(0))
        .with_context(|| format!("cannot truncate {}", path.display()))?;
    Ok(true)
}

/// The last `lines` lines of `path` (and of its rotated twin when needed).
pub fn tail(path: &Path, lines: usize) -> Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = f.metadata()?.len();
    // Enough for `lines` ordinary lines; a longer line is cut at the start.
    let want = (lines as u64 * 400).max(64 * 1024);
    let start = len.saturating_sub(want);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    let mut out = all[skip..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok((out, len))
}

/// Whether process `pid` exists on this machine (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> StateDir {
        let d = std::env::temp_dir().join(format!("lattice-state-{}", uuid::Uuid::new_v4()));
        StateDir::find(Some(&d)).expect("dir")
    }

    #[test]
    fn the_host_key_is_made_once_and_kept() {
        let d = dir();
        let a = d.host_key().expect("first");
        let b = d.host_key().expect("again");
        assert_eq!(a.public_key(), b.public_key());
        assert!(a.public_key().starts_with('N'));
    }

    #[test]
    fn a_second_lock_of_the_same_lattice_is_refused_and_names_the_holder() {
        let d = dir();
        let held = d.lock("demo").expect("first");
        let e = d.lock("demo").expect_err("second");
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        let _other = d.lock("other").expect("another lattice");
        drop(held);
        d.lock("demo").expect("free again");
    }

    #[test]
    fn logs_rotate_past_the_limit_and_tail_reads_the_end() {
        let d = dir();
        d.ensure_logs("p").expect("logs");
        let path = d.log_path("p", "kv");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        for i in 0..10 {
            writeln!(f, "line {i}").expect("write");
        }
        let (t, _) = tail(&path, 3).expect("tail");
        assert_eq!(t, "line 7\nline 8\nline 9\n");
        assert!(!rotate_if_large(&path).expect("small"));
        f.write_all(&vec![b'x'; LOG_MAX_BYTES as usize + 1])
            .expect("big");
        assert!(rotate_if_large(&path).expect("rotated"));
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);
        writeln!(f, "after").expect("append after truncation");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "after\n");
        assert!(path.with_extension("log.1").exists());
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX - 1));
    }
}
