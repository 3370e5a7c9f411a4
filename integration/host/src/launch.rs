//! Provider processes: launched with host data on stdin, their output kept,
//! killed on drop.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lattice_rpc::HostData;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::error::HostError;

/// How much of a process's output is kept (the most recent part).
const OUTPUT_KEEP_BYTES: usize = 256 * 1024;

/// A running provider process. Killed on drop.
pub struct ProviderProcess {
    child: Child,
    binary: PathBuf,
    output: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// Its host data.
    pub host_data: HostData,
    /// The file its output goes to, when launched with one.
    log: Option<PathBuf>,
}

/// Spawns `cmd` (outputs already set) with `env` (and `RUST_LOG=info`
/// unless set), writes `line` and CRLF on its stdin and closes it.
async fn start(
    mut cmd: Command,
    binary: &Path,
    env: &[(String, String)],
    line: &str,
) -> Result<Child, HostError> {
    let spawn_err = |reason: String| HostError::Spawn {
        binary: binary.to_path_buf(),
        reason,
    };
    cmd.stdin(Stdio::piped());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| spawn_err(e.to_string()))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| spawn_err("no stdin".into()))?;
    let written = async {
        stdin.write_all(line.as_bytes()).await?;
        stdin.write_all(b"\r\n").await
    }
    .await;
    // A process that exits at once closes its stdin: that is its output's story, not ours.
    if let Err(e) = written {
        tracing::debug!(error = %e, "provider closed stdin before reading host data");
    }
    Ok(child)
}

/// The last `max` bytes of `path`, from the first whole line.
fn tail_of(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or(text)
    } else {
        text
    }
}

impl ProviderProcess {
    /// Spawns `binary` and writes `host_data` on its stdin as a host does.
    pub async fn spawn(
        binary: &Path,
        host_data: HostData,
        env: &[(String, String)],
    ) -> Result<Self, HostError> {
        let line = host_data.encode();
        let mut p = Self::spawn_raw(binary, &line, env).await?;
        p.host_data = host_data;
        Ok(p)
    }

    /// Spawns `binary` and writes `stdin_line` (anything, for failure tests).
    pub async fn spawn_raw(
        binary: &Path,
        stdin_line: &str,
        env: &[(String, String)],
    ) -> Result<Self, HostError> {
        let mut cmd = Command::new(binary);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = start(cmd, binary, env, stdin_line).await?;
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let streams: [Option<Box<dyn AsyncRead + Unpin + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let output = output.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if std::env::var_os("PROVIDER_LOGS").is_some() {
                        eprintln!("[provider] {line}");
                    }
                    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                    out.push_str(&line);
                    out.push('\n');
                    if out.len() > OUTPUT_KEEP_BYTES {
                        let cut = out.len() - OUTPUT_KEEP_BYTES / 2;
                        let cut = (cut..out.len())
                            .find(|i| out.is_char_boundary(*i))
                            .unwrap_or(out.len());
                        out.drain(..cut);
                    }
                }
            }));
        }
        Ok(Self {
            child,
            binary: binary.to_path_buf(),
            output,
            readers,
            host_data: HostData::default(),
            log: None,
        })
    }

    /// Spawns `binary` with `host_data` as [`ProviderProcess::spawn`] does,
    /// but appends its stdout and stderr to `log`, puts it in a process
    /// group of its own and leaves it running when the handle is dropped.
    pub async fn spawn_logged(
        binary: &Path,
        host_data: HostData,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, HostError> {
        let spawn_err = |reason: String| HostError::Spawn {
            binary: binary.to_path_buf(),
            reason,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| spawn_err(format!("cannot open its log {}: {e}", log.display())))?;
        let err_file = file
            .try_clone()
            .map_err(|e| spawn_err(format!("cannot open its log {}: {e}", log.display())))?;
        let mut cmd = Command::new(binary);
        cmd.stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file))
            .process_group(0)
            .kill_on_drop(false);
        let child = start(cmd, binary, env, &host_data.encode()).await?;
        Ok(Self {
            child,
            binary: binary.to_path_buf(),
            output: Arc::new(Mutex::new(String::new())),
            readers: Vec::new(),
            host_data,
            log: Some(log.to_path_buf()),
        })
    }

    /// The binary it runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// What the process wrote to stdout and stderr so far (up to the last
    /// 256 KiB); for a process that writes to a log file, that file's last
    /// 16 KiB.
    pub fn output(&self) -> String {
        if let Some(log) = &self.log {
            return tail_of(log, 16 * 1024);
        }
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends SIGKILL without waiting (the exit shows in [`ProviderProcess::try_status`]).
    pub fn start_kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for exit, at most `timeout`; then gives a moment for output to be read.
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, HostError> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| HostError::NoExit(timeout))?
            .map_err(|e| HostError::Spawn {
                binary: self.binary.clone(),
                reason: e.to_string(),
            })?;
        // The readers finish when the pipes close, right after exit.
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        Ok(status)
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The OS process id (none once reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
