//! The wasmtime engine, and components compiled once and kept on disk.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The epoch advances this often; time limits are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An engine for components: async, epoch interruption (time limits), and
/// a pooling allocator sized for `max_instances` instances of at most
/// `memory_bytes` of linear memory each.
pub fn engine(max_instances: u32, memory_bytes: usize) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    // A component made by common toolchains links several core modules
    // (the program, libc, an adapter), each with its own tables.
    let per = 16;
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(per))
        .total_memories(max_instances.saturating_mul(4))
        .total_tables(max_instances.saturating_mul(per))
        .total_stacks(max_instances)
        .max_memories_per_component(per)
        .max_tables_per_component(per)
        .max_core_instances_per_component(per * 4)
        .table_elements(100_000)
        .max_memory_size(memory_bytes);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot set up wasmtime")
}

/// Ticks the engine's epoch until the process ends.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::error!("cannot start the epoch ticker: {e}"));
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Compiled now (and stored).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// Loads the component at `wasm`: from `cache_dir` when a compiled form
/// for this file's contents and this engine's settings is there, else
/// compiled and stored for next time.
pub fn load(
    engine: &Engine,
    wasm: &Path,
    cache_dir: Option<&Path>,
) -> Result<(Component, Source, Duration)> {
    let started = Instant::now();
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let cached = cache_dir.map(|d| (d, cache_path(engine, &bytes, d)));
    if let Some((dir, entry)) = &cached
        && entry.is_file()
        && !writable_by_others(dir, entry)
    {
        match deserialize(engine, entry) {
            Ok(c) => return Ok((c, Source::Cached, started.elapsed())),
            Err(e) => tracing::warn!(
                "the cached compilation {} does not load ({e:#}); compiling again",
                entry.display()
            ),
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a component this host can run", wasm.display()))?;
    match &cached {
        Some((dir, entry)) => {
            if let Err(e) = store(&component, entry) {
                tracing::warn!(
                    "cannot keep the compiled component in {}: {e:#}",
                    dir.display()
                );
            }
        }
        None => tracing::warn!(
            "no cache directory (neither HOME nor XDG_CACHE_HOME is set): compiling at every start"
        ),
    }
    Ok((component, Source::Compiled, started.elapsed()))
}

/// `{cache_dir}/{sha256 of the file}-{engine settings hash}.cwasm`.
fn cache_path(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(bytes);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let mut name = String::with_capacity(90);
    for b in digest.iter() {
        name.push_str(&format!("{b:02x}"));
    }
    name.push_str(&format!("-{:016x}.cwasm", h.finish()));
    cache_dir.join(name)
}

/// Whether the cache or the entry belongs to another user or may be
/// written by anyone but its owner; such an entry is compiled again rather
/// than trusted.
fn writable_by_others(dir: &Path, entry: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The owner of /proc/self is this process's effective user.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    [dir, entry].iter().any(|p| match std::fs::metadata(p) {
        Ok(m) if m.permissions().mode() & 0o022 == 0 && Some(m.uid()) == me => false,
        _ => {
            tracing::warn!(
                "{} is another user's or may be written by others: not loading native code from it",
                p.display()
            );
            true
        }
    })
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component> {
    // SAFETY: wasmtime runs the native code in this file as it is. The file
    // is one this host wrote (`store`), in a directory only its user may
    // write (0700), named by the hash of the source and of the engine's
    // settings; wasmtime checks the header for the engine's version and
    // settings before using it.
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}

fn store(component: &Component, path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().context("the cache path has no directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {}", tmp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_compiled_once_then_loaded_from_the_cache() {
        let dir = std::env::temp_dir().join(format!("lattice-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let wasm = dir.join("c.wasm");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&wasm, wat::parse_str("(component)").unwrap()).unwrap();
        let cache = dir.join("cache");
        let engine = engine(2, 1 << 20).unwrap();
        let (_, source, _) = load(&engine, &wasm, Some(&cache)).unwrap();
        assert_eq!(source, Source::Compiled);
        let (_, source, _) = load(&engine, &wasm, Some(&cache)).unwrap();
        assert_eq!(source, Source::Cached);
        // Only its user may write where native code is loaded from.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "cache mode {mode:o}");
        // An entry others may write is not trusted.
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let (_, source, _) = load(&engine, &wasm, Some(&cache)).unwrap();
        assert_eq!(source, Source::Compiled);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A damaged entry is compiled again, not run.
        std::fs::write(&entry, b"not a compiled component").unwrap();
        let (_, source, _) = load(&engine, &wasm, Some(&cache)).unwrap();
        assert_eq!(source, Source::Compiled);
        // Another file is another entry.
        std::fs::write(&wasm, wat::parse_str("(component (core module))").unwrap()).unwrap();
        let (_, source, _) = load(&engine, &wasm, Some(&cache)).unwrap();
        assert_eq!(source, Source::Compiled);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_or_foreign_file_is_a_clear_error() {
        let engine = engine(2, 1 << 20).unwrap();
        let cache = std::env::temp_dir().join("lattice-cache-test-none");
        let err = load(&engine, Path::new("/nonexistent/x.wasm"), Some(&cache))
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").starts_with("cannot read /nonexistent/x.wasm"),
            "{err:#}"
        );
        let f = std::env::temp_dir().join(format!("lattice-not-wasm-{}", std::process::id()));
        std::fs::write(&f, b"hello").unwrap();
        let err = load(&engine, &f, Some(&cache)).err().unwrap();
        assert!(
            format!("{err:#}").contains("is not a component this host can run"),
            "{err:#}"
        );
        let _ = std::fs::remove_file(&f);
    }
}
