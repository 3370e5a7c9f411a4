#![allow(clippy::unwrap_used, dead_code)]
//! A lattice of a test's own, driven through the `lattice` binary as an
//! operator would: keys, manifest, `up` in the background, commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lattice_host::Host;
use lattice_rpc::claims::LatticeKey;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A lattice of its own: keys, state directory, prefix.
pub struct Lattice {
    pub dir: PathBuf,
    pub prefix: String,
}

impl Lattice {
    pub fn new() -> Self {
        let prefix = lattice_fixtures::fresh_name("cli");
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        let l = Self { dir, prefix };
        let out = l.run(&["keys", "init"]);
        assert!(out.status.success(), "{}", text(&out));
        l
    }

    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys.toml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(lattice_fixtures::binary("lattice").unwrap());
        c.args(args)
            .env("LATTICE_KEYS", self.keys())
            .env("LATTICE_STATE_DIR", self.dir.join("state"))
            .env("LATTICE_PREFIX", &self.prefix)
            .env("LATTICE_NATS_URL", lattice_fixtures::nats_url())
            .env_remove("RUST_BACKTRACE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `args` and returns stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "lattice {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// JSON lines of `args --json`.
    pub fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = args.to_vec();
        all.push("--json");
        self.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn manifest(&self, body: &str) -> PathBuf {
        let path = self.dir.join("lattice.toml");
        std::fs::write(
            &path,
            format!("[lattice]\nprefix = \"{}\"\n\n{body}", self.prefix),
        )
        .unwrap();
        path
    }

    /// `lattice up` until it prints `ready` (its events as JSON lines).
    pub async fn up(&self, manifest: &Path, env: &[(&str, &str)]) -> Up {
        let mut cmd = tokio::process::Command::from(self.command(&[
            "up",
            manifest.to_str().unwrap(),
            "--json",
        ]));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut up = Up {
            pid: child.id().unwrap(),
            child,
            events: rx,
            seen: Vec::new(),
        };
        up.wait_for("ready", Duration::from_secs(240)).await;
        up
    }

    /// A host library client on this lattice, holding its keys.
    pub async fn host(&self) -> Host {
        let text = std::fs::read_to_string(self.keys()).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
                .unwrap()
                .trim_end_matches('"')
                .to_string()
        };
        Host::builder()
            .nats_url(lattice_fixtures::nats_url())
            .lattice(&self.prefix)
            .cluster_key(nkeys::KeyPair::from_seed(&field("cluster_seed")).unwrap())
            .lattice_key(LatticeKey::from_base64url(&field("lattice_key")).unwrap())
            .connect()
            .await
            .unwrap()
    }

    /// `lattice ps --json` rows of provider `name` that answer health.
    pub fn running(&self, name: &str) -> Vec<serde_json::Value> {
        self.json(&["ps"])
            .into_iter()
            .filter(|r| r["provider"] == name && r["health"] == "healthy")
            .collect()
    }
}

impl Drop for Lattice {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `lattice up`; drained (SIGTERM) when dropped.
pub struct Up {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub events: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    pub seen: Vec<serde_json::Value>,
}

impl Up {
    /// Waits for the next event named `name`.
    pub async fn wait_for(&mut self, name: &str, within: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if v["event"] == name {
                        return v;
                    }
                }
                _ => panic!("no {name:?} event within {within:?}; saw {:#?}", self.seen),
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // Drain what it runs; its providers are in process groups of their own.
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.start_kill();
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn kill9(pid: u64) {
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
}
