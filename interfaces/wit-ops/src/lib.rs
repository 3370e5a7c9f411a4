//! The operation names a WIT package under `wit/` yields (rules in
//! `wit/README.md`), and a check that they equal an interface crate's list.

#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::path::PathBuf;

fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The upstream package whose operation names a wire-mapping package keeps:
/// `lattice:wasi-keyvalue-wire` is the wire form of `wasi:keyvalue`, so its
/// operations are `wasi:keyvalue/{interface}.{function}`.
fn mirrored(namespace: &str, name: &str) -> Option<&'static str> {
    match (namespace, name) {
        ("lattice", "wasi-keyvalue-wire") => Some("wasi:keyvalue"),
        _ => None,
    }
}

/// The directory of package `name` under the workspace's `wit/`.
pub fn wit_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../wit")
        .join(name)
}

/// Operation names of the package in `wit/{name}`.
pub fn operations(name: &str) -> Result<BTreeSet<String>, String> {
    let dir = wit_dir(name);
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_dir(&dir)
        .map_err(|e| format!("{}: {e:#}", dir.display()))?;
    let package = &resolve.packages[pkg];
    let upstream = mirrored(&package.name.namespace, &package.name.name);
    let mut out = BTreeSet::new();
    for (iface_name, iface) in &package.interfaces {
        for func in resolve.interfaces[*iface].functions.keys() {
            out.insert(if let Some(upstream) = upstream {
                format!("{upstream}/{iface_name}.{func}")
            } else {
                format!("{}.{}", pascal(iface_name), pascal(func))
            });
        }
    }
    Ok(out)
}

/// Fails, naming each side's extras, unless the packages `wit_packages`
/// yield exactly `rust_ops`.
pub fn assert_agree(wit_packages: &[&str], rust_ops: &[&str]) {
    let mut wit = BTreeSet::new();
    for p in wit_packages {
        wit.extend(operations(p).unwrap_or_else(|e| panic!("WIT does not parse: {e}")));
    }
    let rust: BTreeSet<String> = rust_ops.iter().map(|s| s.to_string()).collect();
    let only_wit: Vec<_> = wit.difference(&rust).collect();
    let only_rust: Vec<_> = rust.difference(&wit).collect();
    assert!(
        only_wit.is_empty() && only_rust.is_empty(),
        "WIT and Rust disagree.\n  in WIT, no Rust operation: {only_wit:?}\n  in Rust, no WIT function: {only_rust:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_names_become_pascal_case() {
        assert_eq!(pascal("key-value"), "KeyValue");
        assert_eq!(pascal("set-intersection"), "SetIntersection");
        assert_eq!(pascal("get"), "Get");
    }
}
