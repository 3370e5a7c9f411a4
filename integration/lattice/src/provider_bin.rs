//! Provider binaries: finding them, asking what they are (`--describe`),
//! and checking config and link values with their own parser (`--check`)
//! before anything starts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Deserialize;

/// What a provider binary says about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Described {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The contract it serves.
    pub contract_id: String,
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `binary`: a path (with a `/`, relative to `base`), or a name looked
/// up beside the `lattice` executable and then on `PATH`.
pub fn resolve(binary: &str, base: &Path) -> Result<PathBuf> {
    if binary.contains('/') {
        let p = Path::new(binary);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        if !p.exists() {
            bail!("binary {} does not exist", p.display());
        }
        if !executable(&p) {
            bail!("binary {} is not an executable file", p.display());
        }
        return Ok(p);
    }
    let mut looked = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join(binary);
        if executable(&p) {
            return Ok(p);
        }
        looked.push(dir.display().to_string());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(binary);
            if executable(&p) {
                return Ok(p);
            }
        }
        looked.push("PATH".into());
    }
    bail!(
        "no binary named {binary:?} (looked in {}); give a path, or build it (cargo build -p {binary})",
        looked.join(" and ")
    )
}

/// Runs `bin` with `args` and `input` on stdin, at most 20 s; stdout,
/// stderr and success.
fn run(bin: &Path, args: &[String], input: &[u8]) -> Result<(String, String, bool)> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", bin.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // A binary that exits without reading is judged by its exit status.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not answer within 20 s", bin.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output()?;
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    ))
}

/// Asks `bin --describe`; for a binary that cannot describe itself (not
/// built on provider-sdk), `contract` from the manifest stands in.
pub fn describe(bin: &Path, contract: Option<&str>) -> Result<Described> {
    let (stdout, stderr, ok) = run(bin, &["--describe".to_string()], b"")?;
    let described = ok
        .then(|| serde_json::from_str::<Described>(stdout.trim()).ok())
        .flatten();
    match (described, contract) {
        (Some(mut d), Some(c)) => {
            if d.contract_id != c {
                bail!(
                    "{} serves {}, but the manifest says contract = {c:?}",
                    bin.display(),
                    d.contract_id
                );
            }
            d.contract_id = c.to_string();
            Ok(d)
        }
        (Some(d), None) => Ok(d),
        (None, Some(c)) => Ok(Described {
            name: bin
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            version: "?".into(),
            contract_id: c.to_string(),
        }),
        (None, None) => bail!(
            "{} did not describe itself with --describe ({}); is it a provider? For one not built on provider-sdk, set contract = \"…\"",
            bin.display(),
            first_line(&stderr).unwrap_or("no output")
        ),
    }
}

fn first_line(s: &str) -> Option<&str> {
    s.lines()
        .map(|l| l.trim().trim_start_matches("error: "))
        .find(|l| !l.is_empty())
}

/// Config (a JSON object) as `key=value` pairs: strings as they are, other
/// values as JSON text.
pub fn config_pairs(config: &serde_json::Value) -> Vec<(String, String)> {
    match config {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks `pairs` with the provider's own parser: `bin --check` reads them
/// as one JSON object on stdin (not on the command line, where other users
/// of the machine could read them).
pub fn check_values(bin: &Path, pairs: &[(String, String)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let obj: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let input = serde_json::to_vec(&obj)?;
    let (_, stderr, ok) = run(bin, &["--check".to_string()], &input)?;
    if ok {
        return Ok(());
    }
    bail!(
        "{}",
        first_line(&stderr).unwrap_or("refused by the provider")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_are_named_with_where_they_were_looked_for() {
        let e = resolve("surely-no-such-provider", Path::new("")).expect_err("missing");
        assert!(e.to_string().contains("PATH"), "{e}");
        let e = resolve("./nope/provider", Path::new("/tmp")).expect_err("missing path");
        assert!(e.to_string().contains("/tmp/./nope/provider"), "{e}");
        let e = resolve("/etc/passwd", Path::new("")).expect_err("not executable");
        assert!(e.to_string().contains("not an executable"), "{e}");
    }

    #[test]
    fn config_becomes_pairs() {
        let mut pairs = config_pairs(&serde_json::json!({"url": "redis://x", "n": 3, "tls": true}));
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("n".to_string(), "3".to_string()),
                ("tls".to_string(), "true".to_string()),
                ("url".to_string(), "redis://x".to_string())
            ]
        );
    }
}
