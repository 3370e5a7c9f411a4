//! The secrets contract suite (`wasmcloud:secrets`) against a Vault KV v2
//! mount the suite seeds itself.
//!
//! Binary values: a Vault field holding the JSON object
//! `{"base64": "<standard base64>"}` is a binary value and is returned as
//! `{bytes}`; any other string field is returned as `{string}`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use base64::Engine;
use futures_util::StreamExt;
use secrets_interface::SecretsClient;
use secrets_interface::error::{ACCESS_DENIED, NOT_FOUND};
use secrets_interface::types::SecretValue;

use crate::ensure_eq;
use crate::{cases, expect_code, owned_pairs, pairs};
use lattice_fixtures::VaultFixture;
use lattice_host::{Host, ProviderRef};

/// What a secrets case needs.
pub struct SecretsSuite {
    host: Arc<Host>,
    provider: ProviderRef,
    vault: VaultFixture,
    base_values: Vec<(String, String)>,
    ns: String,
}

impl SecretsSuite {
    /// A suite for `provider` reading from `vault`; `base_values` (Vault
    /// address, auth) go into every link, the suite adds `allowed_paths`.
    pub fn new(
        host: Arc<Host>,
        provider: &ProviderRef,
        vault: VaultFixture,
        base_values: &[(&str, &str)],
    ) -> Self {
        Self {
            host,
            provider: provider.clone(),
            vault,
            base_values: owned_pairs(base_values),
            ns: format!("suite-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.ns)
    }

    /// A client for a fresh actor linked with `allowed_paths` (none: no allow-list at all).
    pub async fn client(&self, allowed_paths: Option<&str>) -> Result<SecretsClient> {
        let actor = lattice_host::new_actor();
        let mut values = pairs(&self.base_values, &[]);
        if let Some(p) = allowed_paths {
            values.push(("allowed_paths", p));
        }
        self.host
            .link_actor(&self.provider, &actor, &values)
            .await?;
        Ok(SecretsClient::new(
            self.host.rpc().clone(),
            &actor,
            &self.provider.key,
            &self.provider.link_name,
        ))
    }

    async fn allowed_client(&self) -> Result<SecretsClient> {
        self.client(Some(&format!("{}/*", self.ns))).await
    }
}

impl crate::Suite for SecretsSuite {
    const INTERFACE: &'static str = "secrets";
    const CASE_TIMEOUT: Duration = Duration::from_secs(30);

    fn cases() -> &'static [crate::Case<Self>] {
        CASES
    }
}

cases! {
    SecretsSuite;
    string_field_is_returned: "a string field of an allowed secret opens to {string}",
    whole_secret_without_field_is_json_text: "no field returns every field as the text of a JSON object",
    binary_value_is_returned_as_bytes: "a {\"base64\": …} field opens to {bytes} with every byte value",
    versions_are_selectable: "version 1 reads the first write; no version reads the latest and reports its number",
    missing_secret_is_not_found: "a path with no secret gives secrets.not-found",
    missing_field_is_not_found: "a field the secret lacks gives secrets.not-found",
    path_outside_the_allow_list_is_access_denied: "a path the link does not allow gives secrets.access-denied, even when it exists",
    no_allow_list_denies_everything: "a link without allowed_paths may read nothing",
    exact_path_allow_list_does_not_allow_children: "an exact allowed path does not allow a longer one",
    unlinked_actor_is_not_linked: "an actor with no link gives not-linked",
    sealed_value_opens_only_with_the_requesters_key: "the reply opens with the requester's xkey and not with another",
    secret_never_crosses_the_lattice_in_clear: "no message on the lattice carries the secret's bytes while it is read",
}

async fn string_field_is_returned(c: &SecretsSuite) -> Result<()> {
    let p = c.path("db");
    c.vault
        .put(
            &p,
            serde_json::json!({"password": "s3cr3t-str", "user": "app"}),
        )
        .await?;
    let v = c
        .allowed_client()
        .await?
        .get_open(&p, Some("password"), None)
        .await?;
    ensure_eq!(v.as_str(), Some("s3cr3t-str"));
    Ok(())
}

async fn whole_secret_without_field_is_json_text(c: &SecretsSuite) -> Result<()> {
    let p = c.path("whole");
    c.vault
        .put(&p, serde_json::json!({"a": "1", "b": "2"}))
        .await?;
    let v = c.allowed_client().await?.get_open(&p, None, None).await?;
    let text = v.as_str().unwrap_or_default().to_string();
    let parsed: serde_json::Value = serde_json::from_str(&text)?;
    ensure_eq!(parsed, serde_json::json!({"a": "1", "b": "2"}));
    Ok(())
}

async fn binary_value_is_returned_as_bytes(c: &SecretsSuite) -> Result<()> {
    let p = c.path("bin");
    let bytes: Vec<u8> = (0..=255u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    c.vault
        .put(&p, serde_json::json!({"key": {"base64": b64}}))
        .await?;
    let v = c
        .allowed_client()
        .await?
        .get_open(&p, Some("key"), None)
        .await?;
    ensure_eq!(v, SecretValue::Bytes(bytes));
    Ok(())
}

async fn versions_are_selectable(c: &SecretsSuite) -> Result<()> {
    let p = c.path("versioned");
    c.vault.put(&p, serde_json::json!({"v": "first"})).await?;
    let latest = c.vault.put(&p, serde_json::json!({"v": "second"})).await?;
    let client = c.allowed_client().await?;
    let old = client.get_open(&p, Some("v"), Some(1)).await?;
    ensure_eq!(old.as_str(), Some("first"));
    let xkey = nkeys::XKey::new();
    let resp = client.get(&p, Some("v"), None, &xkey.public_key()).await?;
    ensure_eq!(resp.version, latest);
    let new = SecretValue::open(&resp.sealed, &xkey, &resp.sender_xkey)?;
    ensure_eq!(new.as_str(), Some("second"));
    Ok(())
}

async fn missing_secret_is_not_found(c: &SecretsSuite) -> Result<()> {
    let r = c
        .allowed_client()
        .await?
        .get_open(&c.path("never-written"), None, None)
        .await;
    expect_code(r, &[NOT_FOUND])?;
    Ok(())
}

async fn missing_field_is_not_found(c: &SecretsSuite) -> Result<()> {
    let p = c.path("fields");
    c.vault.put(&p, serde_json::json!({"present": "x"})).await?;
    let r = c
        .allowed_client()
        .await?
        .get_open(&p, Some("absent"), None)
        .await;
    expect_code(r, &[NOT_FOUND])?;
    Ok(())
}

async fn path_outside_the_allow_list_is_access_denied(c: &SecretsSuite) -> Result<()> {
    let outside = format!("{}-other/x", c.ns);
    c.vault.put(&outside, serde_json::json!({"k": "v"})).await?;
    let r = c
        .allowed_client()
        .await?
        .get_open(&outside, Some("k"), None)
        .await;
    expect_code(r, &[ACCESS_DENIED])?;
    Ok(())
}

async fn no_allow_list_denies_everything(c: &SecretsSuite) -> Result<()> {
    let p = c.path("open");
    c.vault.put(&p, serde_json::json!({"k": "v"})).await?;
    let r = c.client(None).await?.get_open(&p, Some("k"), None).await;
    expect_code(r, &[ACCESS_DENIED])?;
    Ok(())
}

async fn exact_path_allow_list_does_not_allow_children(c: &SecretsSuite) -> Result<()> {
    let (exact, child) = (c.path("exact"), c.path("exact/child"));
    c.vault
        .put(&exact, serde_json::json!({"k": "parent"}))
        .await?;
    c.vault
        .put(&child, serde_json::json!({"k": "child"}))
        .await?;
    let client = c.client(Some(&exact)).await?;
    let parent = client.get_open(&exact, Some("k"), None).await?;
    ensure_eq!(parent.as_str(), Some("parent"));
    expect_code(
        client.get_open(&child, Some("k"), None).await,
        &[ACCESS_DENIED],
    )?;
    Ok(())
}

async fn unlinked_actor_is_not_linked(c: &SecretsSuite) -> Result<()> {
    let client = SecretsClient::new(
        c.host.rpc().clone(),
        &lattice_host::new_actor(),
        &c.provider.key,
        &c.provider.link_name,
    );
    let r = client.get_open(&c.path("db"), None, None).await;
    expect_code(r, &["not-linked"])?;
    Ok(())
}

async fn sealed_value_opens_only_with_the_requesters_key(c: &SecretsSuite) -> Result<()> {
    let p = c.path("sealed");
    c.vault
        .put(&p, serde_json::json!({"k": "for-you-only"}))
        .await?;
    let (mine, other) = (nkeys::XKey::new(), nkeys::XKey::new());
    let resp = c
        .allowed_client()
        .await?
        .get(&p, Some("k"), None, &mine.public_key())
        .await?;
    if resp.sealed.windows(12).any(|w| w == b"for-you-only") {
        bail!("the sealed reply contains the value in clear");
    }
    if SecretValue::open(&resp.sealed, &other, &resp.sender_xkey).is_ok() {
        bail!("another xkey opened the reply");
    }
    let v = SecretValue::open(&resp.sealed, &mine, &resp.sender_xkey)?;
    ensure_eq!(v.as_str(), Some("for-you-only"));
    Ok(())
}

async fn secret_never_crosses_the_lattice_in_clear(c: &SecretsSuite) -> Result<()> {
    let p = c.path("watched");
    let marker = format!("clear-text-marker-{}", uuid::Uuid::new_v4().simple());
    c.vault.put(&p, serde_json::json!({"k": marker})).await?;
    // This lattice's traffic only: other tests and benches share the NATS.
    let mut all = c
        .host
        .nats()
        .subscribe(format!("wasmbus.rpc.{}.>", c.host.lattice()))
        .await?;
    lattice_rpc::subjects::server_sync(c.host.nats(), Duration::from_secs(10))
        .await
        .map_err(anyhow::Error::msg)?;
    let client = c.allowed_client().await?;
    let v = client.get_open(&p, Some("k"), None).await?;
    ensure_eq!(v.as_str(), Some(marker.as_str()));
    // What was published while reading arrives within the quiet period
    // below (and the watch ends after 10 s whatever else happens).
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline
        && let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), all.next()).await
    {
        seen += 1;
        if m.payload
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
        {
            bail!("the secret crossed the lattice in clear on {}", m.subject);
        }
    }
    if seen == 0 {
        bail!("the watcher saw no lattice traffic at all: it watched the wrong place");
    }
    Ok(())
}
