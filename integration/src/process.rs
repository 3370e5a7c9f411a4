//! Provider processes: find the binary, launch it with host data, watch it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use provider_sdk::HostData;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// What kind of Cargo target a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `[[bin]]` of package `pkg`.
    Bin,
    /// An example of package `pkg`.
    Example,
}

fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // Tests run from target/<profile>/deps/<name>; binaries sit two levels up.
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

fn profile_dir() -> PathBuf {
    // Tests run from target/<profile>/deps/<name>, binaries (the benches,
    // the CLI) from target/<profile>/<name>.
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir
    };
    if dir.parent().is_some_and(|t| t.ends_with("target")) {
        dir
    } else {
        target_dir().join("debug")
    }
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The path of binary `name` (package `pkg`), built with Cargo if it is missing.
pub fn binary(pkg: &str, name: &str, kind: Target) -> Result<PathBuf> {
    let dir = profile_dir();
    let path = match kind {
        Target::Bin => dir.join(name),
        Target::Example => dir.join("examples").join(name),
    };
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", pkg]);
        match kind {
            Target::Bin => cmd.args(["--bin", name]),
            Target::Example => cmd.args(["--example", name]),
        };
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .with_context(|| format!("running cargo to build {name}"))?;
        if !status.success() || !path.exists() {
            bail!("{name} is not built and `cargo build -p {pkg}` failed");
        }
    }
    Ok(path)
}

/// The example provider of the SDK (`echo`).
pub fn echo_provider() -> Result<PathBuf> {
    binary("provider-sdk", "echo", Target::Example)
}

/// A running provider process. Killed on drop.
pub struct ProviderProcess {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// Its host data.
    pub host_data: HostData,
}

impl ProviderProcess {
    /// Spawns `binary` and writes `host_data` on its stdin as a host does.
    pub async fn spawn(binary: &Path, host_data: HostData, env: &[(&str, &str)]) -> Result<Self> {
        let line = host_data.encode();
        Self::spawn_raw(binary, &line, env).await.map(|mut p| {
            p.host_data = host_data;
            p
        })
    }

    /// Spawns `binary` and writes `stdin_line` (anything, for failure tests).
    pub async fn spawn_raw(binary: &Path, stdin_line: &str, env: &[(&str, &str)]) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        stdin.write_all(stdin_line.as_bytes()).await?;
        stdin.write_all(b"\r\n").await?;
        drop(stdin);
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
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
                }
            }));
        }
        Ok(Self {
            child,
            output,
            readers,
            host_data: HostData::default(),
        })
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for exit, at most `timeout`; then gives a moment for output to be read.
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .context("provider did not exit in time")??;
        // The readers finish when the pipes close, right after exit.
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        Ok(status)
    }

    /// Kills the process.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
