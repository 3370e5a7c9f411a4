//! Links as every command applies them: recorded in the shared state and
//! sent to the provider, secrets sealed to the provider's xkey (derived
//! from the lattice key, so every instance and every host can use them).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::{Context, Result, bail};
use base64::Engine;
use lattice_host::{Host, ProviderRef};
use lattice_rpc::LinkDefinition;
use lattice_rpc::secret::SealedBytes;

use lattice_host::state::{LinkRecord, ProviderRecord, State};

/// What became of a link put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A running instance accepted it.
    Applied,
    /// No instance runs: it is recorded, and instances get it when they start.
    Recorded,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Applied => "accepted",
            Outcome::Recorded => "recorded (no instance runs now; it gets the link when it starts)",
        })
    }
}

/// The definition a provider receives for `rec`.
pub fn definition(rec: &LinkRecord) -> Result<LinkDefinition> {
    let mut secrets = HashMap::new();
    for (k, v) in &rec.secrets {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v)
            .with_context(|| format!("link secret {k} in the state is not base64"))?;
        secrets.insert(k.clone(), SealedBytes(bytes));
    }
    Ok(LinkDefinition {
        actor_id: rec.actor_id.clone(),
        provider_id: rec.provider_id.clone(),
        link_name: rec.link_name.clone(),
        contract_id: rec.contract_id.clone(),
        values: rec
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        secrets,
    })
}

/// The provider reference of a record.
pub fn pref(rec: &ProviderRecord) -> ProviderRef {
    ProviderRef::new(&rec.provider_key, &rec.link_name, &rec.contract_id)
}

/// Puts a link from `actor` to `provider`: sent to the running instances
/// (refused: nothing is recorded), then recorded in the shared state.
pub async fn put(
    host: &Host,
    state: &State,
    provider: &ProviderRecord,
    actor: &str,
    values: &BTreeMap<String, String>,
    secrets: Vec<(String, String)>,
) -> Result<Outcome> {
    if !actor.starts_with('M') || nkeys::KeyPair::from_public_key(actor).is_err() {
        bail!("{actor:?} is not an actor's public key (M…, 56 characters)");
    }
    let mut sealed = BTreeMap::new();
    for (k, v) in secrets {
        let bytes = host
            .seal_for_provider(&provider.provider_key, &provider.link_name, &v)
            .with_context(|| format!("cannot seal secret {k}"))?;
        sealed.insert(k, base64::engine::general_purpose::STANDARD.encode(bytes.0));
    }
    let rec = LinkRecord {
        actor_id: actor.to_string(),
        provider_id: provider.provider_key.clone(),
        provider_name: provider.name.clone(),
        link_name: provider.link_name.clone(),
        contract_id: provider.contract_id.clone(),
        values: values.clone(),
        secrets: sealed,
    };
    let outcome = match host.put_link(&pref(provider), &definition(&rec)?).await {
        Ok(ack) if ack.accepted => Outcome::Applied,
        Ok(ack) => bail!(
            "{} refused the link: {}",
            provider.name,
            ack.error.unwrap_or_default()
        ),
        Err(e) if e.is_no_responders() => Outcome::Recorded,
        Err(e) => return Err(e.into()),
    };
    state.put_link(&rec).await?;
    Ok(outcome)
}

/// Deletes the link from `actor` to `provider`: from the state, then from
/// the running instances.
pub async fn del(
    host: &Host,
    state: &State,
    provider: &ProviderRecord,
    actor: &str,
) -> Result<Outcome> {
    state
        .del_link(&provider.provider_key, &provider.link_name, actor)
        .await?;
    match host.del_link(&pref(provider), actor).await {
        Ok(ack) if ack.accepted => Ok(Outcome::Applied),
        Ok(ack) => bail!(
            "{} refused to delete the link: {}",
            provider.name,
            ack.error.unwrap_or_default()
        ),
        Err(e) if e.is_no_responders() => Ok(Outcome::Recorded),
        Err(e) => Err(e.into()),
    }
}
