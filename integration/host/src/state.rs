//! The lattice's shared state: one NATS JetStream key-value bucket per
//! lattice, which every `lattice` command on any machine reads and changes.
//!
//! | key | value |
//! |---|---|
//! | `provider.{name}` | [`ProviderRecord`]: what a name means (key, link name, contract) |
//! | `instance.{host_id}.{instance_id}` | [`InstanceRecord`]: a running process, as its host reports it |
//! | `link.{provider_key}.{link_name}.{actor}` | [`LinkRecord`]: a link, its secrets sealed |
//!
//! Name parts are escaped into the key alphabet (`=XX` for any other
//! byte). Values are JSON. No secret is stored in the clear: link secrets
//! are kept sealed to the provider's xkey, which only key-file holders and
//! that provider can open.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_nats::jetstream::{self, kv};
use futures_util::TryStreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a provider name stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderRecord {
    /// Its name in commands.
    pub name: String,
    /// Its public key (`V…`).
    pub provider_key: String,
    /// The link name it serves.
    pub link_name: String,
    /// Its contract.
    pub contract_id: String,
    /// The binary its instances run (as the declaring host resolved it).
    pub binary: String,
    /// Instances its manifest asks for.
    pub instances: u32,
    /// The host whose manifest declared it last.
    pub declared_by: String,
    /// For a component (run by `lattice-components`): its actor key, so
    /// commands can name it in links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// One running provider process, as its host reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstanceRecord {
    /// The provider's name.
    pub name: String,
    /// The provider's key.
    pub provider_key: String,
    /// Its link name.
    pub link_name: String,
    /// The host supervising it.
    pub host_id: String,
    /// The instance id it answers health with.
    pub instance_id: String,
    /// Its process id on that host's machine (shown, never acted on by others).
    pub pid: u32,
    /// Milliseconds since the epoch when it started.
    pub started_at_ms: u64,
    /// The binary it runs.
    pub binary: String,
    /// `running`, `restarting`, `stopping`.
    pub status: String,
    /// Restarts of this provider by its supervisor so far.
    pub restarts: u32,
}

/// A link, as every host applies it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkRecord {
    /// The actor.
    pub actor_id: String,
    /// The provider's key.
    pub provider_id: String,
    /// The provider's name.
    pub provider_name: String,
    /// The link name.
    pub link_name: String,
    /// The contract.
    pub contract_id: String,
    /// Plain values.
    pub values: BTreeMap<String, String>,
    /// Secrets, sealed to the provider's xkey (base64, standard).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// Escapes one part of a key: `[A-Za-z0-9_-]` as it is, anything else `=XX`.
pub fn escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('=');
    }
    out
}

/// The bucket of lattice `prefix`.
pub fn bucket_name(prefix: &str) -> String {
    // Bucket names take `[A-Za-z0-9_-]`: here `_` is the escape, so it is
    // escaped itself and two prefixes never share a bucket.
    let mut out = String::from("lattice_state_");
    for b in prefix.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// The shared state of one lattice.
#[derive(Clone)]
pub struct State {
    kv: kv::Store,
    bucket: String,
}

impl State {
    /// Opens the state of `prefix`, creating its bucket (for `lattice up`).
    pub async fn create(nats: &async_nats::Client, prefix: &str) -> Result<Self> {
        let js = jetstream::new(nats.clone());
        let bucket = bucket_name(prefix);
        if js.get_key_value(&bucket).await.is_err() {
            // The stream a KV bucket is, made directly: async-nats's
            // `create_key_value` first reads account info in a shape NATS
            // 2.9 does not send.
            let config = jetstream::stream::Config {
                name: format!("KV_{bucket}"),
                description: Some(format!("lattice state of {prefix}")),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                max_bytes: -1,
                max_message_size: -1,
                storage: jetstream::stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: jetstream::stream::DiscardPolicy::New,
                ..Default::default()
            };
            if let Err(e) = js.create_stream(config).await {
                // Another host may have made it meanwhile.
                if js.get_key_value(&bucket).await.is_err() {
                    bail!(
                        "cannot create the state bucket {bucket} (is JetStream enabled on NATS?): {e}"
                    );
                }
            }
        }
        let kv = js
            .get_key_value(&bucket)
            .await
            .with_context(|| format!("cannot open the state bucket {bucket}"))?;
        Ok(Self { kv, bucket })
    }

    /// Opens the state of `prefix`, which `lattice up` must have created.
    pub async fn open(nats: &async_nats::Client, prefix: &str) -> Result<Self> {
        let js = jetstream::new(nats.clone());
        let bucket = bucket_name(prefix);
        match tokio::time::timeout(Duration::from_secs(5), js.get_key_value(&bucket)).await {
            Ok(Ok(kv)) => Ok(Self { kv, bucket }),
            Ok(Err(_)) => bail!(
                "lattice {prefix:?} has no state on this NATS (no bucket {bucket}): start it with `lattice up MANIFEST`, or pass the right --lattice / --nats-url"
            ),
            Err(_) => bail!("NATS did not answer within 5 s while opening {bucket}"),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).context("encoding state")?;
        self.kv
            .put(key, bytes.into())
            .await
            .with_context(|| format!("cannot write {key} to {}", self.bucket))?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let entry = self
            .kv
            .get(key)
            .await
            .with_context(|| format!("cannot read {key} from {}", self.bucket))?;
        match entry {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{key} in {} is not what lattice wrote", self.bucket)),
            None => Ok(None),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.kv
            .delete(key)
            .await
            .with_context(|| format!("cannot delete {key} from {}", self.bucket))?;
        Ok(())
    }

    /// Every value under `prefix.` that decodes (a damaged entry is skipped
    /// with a warning rather than hiding the rest).
    async fn keys(&self) -> Result<Vec<String>> {
        self.kv
            .keys()
            .await
            .with_context(|| format!("cannot list {}", self.bucket))?
            .try_collect()
            .await
            .with_context(|| format!("cannot list {}", self.bucket))
    }

    async fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        let keys = self.keys().await?;
        let mut out = Vec::new();
        let want = format!("{prefix}.");
        for key in keys.iter().filter(|k| k.starts_with(&want)) {
            match self.get::<T>(key).await {
                Ok(Some(v)) => out.push(v),
                Ok(None) => {}
                Err(e) => eprintln!("warning: {e:#}"),
            }
        }
        Ok(out)
    }

    fn provider_key(name: &str) -> String {
        format!("provider.{}", escape(name))
    }

    fn instance_key(host_id: &str, instance_id: &str) -> String {
        format!("instance.{}.{}", escape(host_id), escape(instance_id))
    }

    fn link_key(provider_key: &str, link_name: &str, actor: &str) -> String {
        format!(
            "link.{}.{}.{}",
            escape(provider_key),
            escape(link_name),
            escape(actor)
        )
    }

    /// Records what `name` stands for.
    pub async fn put_provider(&self, rec: &ProviderRecord) -> Result<()> {
        self.put(&Self::provider_key(&rec.name), rec).await
    }

    /// What `name` stands for.
    pub async fn provider(&self, name: &str) -> Result<Option<ProviderRecord>> {
        self.get(&Self::provider_key(name)).await
    }

    /// Every declared provider.
    pub async fn providers(&self) -> Result<Vec<ProviderRecord>> {
        self.list("provider").await
    }

    /// Records an instance.
    pub async fn put_instance(&self, rec: &InstanceRecord) -> Result<()> {
        self.put(&Self::instance_key(&rec.host_id, &rec.instance_id), rec)
            .await
    }

    /// Forgets an instance.
    pub async fn del_instance(&self, host_id: &str, instance_id: &str) -> Result<()> {
        self.delete(&Self::instance_key(host_id, instance_id)).await
    }

    /// Every recorded instance.
    pub async fn instances(&self) -> Result<Vec<InstanceRecord>> {
        self.list("instance").await
    }

    /// Records a link.
    pub async fn put_link(&self, rec: &LinkRecord) -> Result<()> {
        self.put(
            &Self::link_key(&rec.provider_id, &rec.link_name, &rec.actor_id),
            rec,
        )
        .await
    }

    /// Forgets a link.
    pub async fn del_link(&self, provider_key: &str, link_name: &str, actor: &str) -> Result<()> {
        self.delete(&Self::link_key(provider_key, link_name, actor))
            .await
    }

    /// How many links `actor` has now (a watcher waits for that many
    /// entries before it serves).
    pub async fn link_count_of(&self, actor: &str) -> Result<usize> {
        let suffix = format!(".{}", escape(actor));
        Ok(self
            .keys()
            .await?
            .iter()
            .filter(|k| k.starts_with("link.") && k.ends_with(&suffix))
            .count())
    }

    /// Every change to the links of `actor`, the links it has now first: a
    /// JetStream key-value watch of `link.*.*.{actor}`. A `Put` entry holds
    /// a [`LinkRecord`] in JSON; a `Delete` or `Purge` names the key only.
    pub async fn watch_links_of(&self, actor: &str) -> Result<kv::Watch> {
        self.kv
            .watch_with_history(format!("link.*.*.{}", escape(actor)))
            .await
            .with_context(|| format!("cannot watch the links of {actor} in {}", self.bucket))
    }

    /// Every link.
    pub async fn links(&self) -> Result<Vec<LinkRecord>> {
        self.list("link").await
    }

    /// The links of one provider (key and link name).
    pub async fn links_of(&self, provider_key: &str, link_name: &str) -> Result<Vec<LinkRecord>> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .filter(|l| l.provider_id == provider_key && l.link_name == link_name)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_the_key_alphabet_and_never_merges_names() {
        assert_eq!(escape("kv-redis_1"), "kv-redis_1");
        assert_eq!(escape("a:b"), "a=3Ab");
        assert_eq!(escape("a=3Ab"), "a=3D3Ab");
        assert_eq!(escape(""), "=");
        assert_eq!(escape("café"), "caf=C3=A9");
        assert_eq!(bucket_name("demo:1"), "lattice_state_demo_3A1");
        assert_eq!(bucket_name("demo_3A1"), "lattice_state_demo_5F3A1");
    }
}
