//! The control subjects of a provider: link puts and deletes (in publish
//! order, on one subscription), health, shutdown requests and live config.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Message, Subscriber};
use futures_util::StreamExt;

use lattice_rpc::control::{
    CLAIMS_HEADER, HealthCheckResponse, LinkDefinition, PutAck, ShutdownRequest, decode_control,
    encode_control,
};
use lattice_rpc::subjects::{self, control};

use crate::config::{ConfigError, looks_secret};
use crate::error::{LinkError, SecretReason};
use crate::provider::{LinkConfig, Linked, Provider};
use crate::runtime::{DEFAULT_DRAIN_MS, Runtime, Shutdown};

const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

impl<P: Provider> Runtime<P> {
    pub(crate) async fn control_loop(self: Arc<Self>, mut sub: Subscriber) {
        let prefix_len = subjects::provider_rpc(
            self.ctx.lattice(),
            self.ctx.provider_key(),
            self.ctx.link_name(),
        )
        .len()
            + 1;
        while let Some(m) = sub.next().await {
            let suffix = m.subject.get(prefix_len..).unwrap_or("").to_string();
            if suffix != control::HEALTH
                && let Err(e) = self.authenticate(&m)
            {
                tracing::warn!(subject = %m.subject, error = %e, "control message refused");
                if suffix != control::SHUTDOWN {
                    self.ack(m.reply.as_ref(), Err(e.to_string())).await;
                }
                continue;
            }
            match suffix.as_str() {
                control::LINKDEFS_PUT => {
                    let result = match decode_control::<LinkDefinition>(&m.payload) {
                        Ok(ld) => self.put_link(ld).await,
                        Err(e) => Err(LinkError::Decode(e)),
                    };
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "link put rejected");
                    }
                    self.ack(m.reply.as_ref(), result.map_err(|e| e.to_string()))
                        .await;
                }
                control::LINKDEFS_DEL => {
                    let result = match decode_control::<LinkDefinition>(&m.payload) {
                        Ok(ld) => {
                            self.del_link(&ld).await;
                            Ok(())
                        }
                        Err(e) => Err(LinkError::Decode(e).to_string()),
                    };
                    self.ack(m.reply.as_ref(), result).await;
                }
                control::HEALTH => {
                    let rt = self.clone();
                    tokio::spawn(async move { rt.health(m.reply).await });
                }
                control::SHUTDOWN => self.shutdown_request(m),
                control::CONFIG_PUT => {
                    let result = self.config_put(&m.payload).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "config update rejected");
                    }
                    self.ack(m.reply.as_ref(), result.map_err(|e| e.to_string()))
                        .await;
                }
                other => tracing::debug!(subject = other, "ignored control message"),
            }
        }
    }

    /// Section 6b: a control message's `Lattice-Claims`, checked with this
    /// provider's MAC key; a message without one passes unless HS256 is required.
    fn authenticate(&self, m: &Message) -> Result<(), lattice_rpc::RpcError> {
        let header = m
            .headers
            .as_ref()
            .and_then(|h| h.get(CLAIMS_HEADER))
            .map(|v| v.as_str());
        self.verifier
            .verify_control(header, m.subject.as_str(), &m.payload)
    }

    async fn ack(&self, to: Option<&async_nats::Subject>, result: Result<(), String>) {
        let Some(to) = to else { return };
        let ack = PutAck {
            accepted: result.is_ok(),
            error: result.err(),
        };
        if let Ok(bytes) = encode_control(&ack, self.test_mode) {
            let _ = self.nats().publish(to.clone(), bytes.into()).await;
        }
    }

    async fn health(&self, reply: Option<async_nats::Subject>) {
        let mut resp = if self.shutdown_tx.borrow().is_some() {
            HealthCheckResponse::unhealthy("shutting down")
        } else {
            match tokio::time::timeout(HEALTH_TIMEOUT, self.provider.health()).await {
                Ok(r) => r,
                Err(_) => HealthCheckResponse::unhealthy(format!(
                    "health check did not finish within {HEALTH_TIMEOUT:?}"
                )),
            }
        };
        let instance = &self.ctx.host_data().instance_id;
        if !instance.is_empty() {
            resp.instance_id = Some(instance.clone());
        }
        resp.pid = Some(self.process.pid);
        resp.started_at_ms = Some(self.process.started_at_ms);
        resp.in_flight = Some(self.in_flight() as u64);
        resp.links = Some(self.links.len() as u64);
        if let (Some(to), Ok(bytes)) = (reply, encode_control(&resp, self.test_mode)) {
            let _ = self.nats().publish(to, bytes.into()).await;
        }
    }

    fn shutdown_request(&self, m: Message) {
        let req: ShutdownRequest = if m.payload.is_empty() {
            ShutdownRequest::default()
        } else {
            match decode_control(&m.payload) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable shutdown request ignored");
                    return;
                }
            }
        };
        let hd = self.ctx.host_data();
        if !req.host_id.is_empty() && req.host_id != hd.host_id {
            tracing::debug!(host = %req.host_id, "shutdown for another host ignored");
            return;
        }
        if let Some(instance) = &req.instance_id
            && instance != &hd.instance_id
        {
            tracing::debug!(instance = %instance, "shutdown for another instance ignored");
            return;
        }
        let drain = Duration::from_millis(req.drain_ms.unwrap_or(DEFAULT_DRAIN_MS));
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "shutdown requested; draining"
        );
        self.shutdown_tx.send_if_modified(|s| {
            if s.is_some() {
                return false;
            }
            *s = Some(Arc::new(Shutdown {
                reply: m.reply,
                drain,
            }));
            true
        });
    }

    /// Opens sealed secrets and merges them over the plain values.
    fn link_values(&self, ld: &LinkDefinition) -> Result<HashMap<String, String>, LinkError> {
        let mut values = ld.values.clone();
        for (k, v) in &ld.values {
            if looks_secret(k, v) && !ld.secrets.contains_key(k) {
                tracing::warn!(
                    actor = %ld.actor_id,
                    key = %k,
                    "link value looks like a credential; send it as a sealed link secret"
                );
            }
        }
        if ld.secrets.is_empty() {
            return Ok(values);
        }
        let hd = self.ctx.host_data();
        let (Some(xkey), Some(sender)) = (&self.xkey, &hd.host_xkey_public_key) else {
            return Err(LinkError::NoXkey);
        };
        for (k, sealed) in &ld.secrets {
            let unusable = |reason| LinkError::Secret {
                key: k.clone(),
                reason,
            };
            let plain = lattice_rpc::secret::open(&sealed.0, xkey, sender)
                .map_err(|e| unusable(SecretReason::Seal(e)))?;
            let plain = String::from_utf8(plain).map_err(|_| unusable(SecretReason::NotText))?;
            values.insert(k.clone(), plain);
        }
        Ok(values)
    }

    pub(crate) async fn put_link(&self, ld: LinkDefinition) -> Result<(), LinkError> {
        let me = self.ctx.provider_key();
        if !ld.provider_id.is_empty() && ld.provider_id != me {
            return Err(LinkError::ForeignProvider {
                named: ld.provider_id,
                me: me.to_string(),
            });
        }
        let link_name = self.ctx.link_name().to_string();
        if !ld.link_name.is_empty() && ld.link_name != link_name {
            return Err(LinkError::WrongLinkName {
                named: ld.link_name,
                served: link_name,
            });
        }
        if ld.actor_id.is_empty() {
            return Err(LinkError::NoActor);
        }
        if let Some(existing) = self.links.get(&ld.actor_id, &link_name)
            && existing.definition == ld
        {
            return Ok(());
        }
        let values = self.link_values(&ld)?;
        let config = LinkConfig::new(ld, values);
        let state = self.provider.put_link(&self.ctx, &config).await?;
        let definition = config.definition;
        let actor = definition.actor_id.clone();
        let old = self.links.insert(
            (actor.clone(), link_name),
            Arc::new(Linked { definition, state }),
        );
        tracing::info!(actor = %actor, replaced = old.is_some(), "link put");
        if let Some(old) = old {
            self.provider.del_link(old).await;
        }
        Ok(())
    }

    async fn del_link(&self, ld: &LinkDefinition) {
        let link_name = self.ctx.link_name();
        if let Some(old) = self.links.remove(&ld.actor_id, link_name) {
            tracing::info!(actor = %ld.actor_id, "link deleted");
            self.provider.del_link(old).await;
        }
    }

    async fn config_put(&self, payload: &[u8]) -> Result<(), ConfigError> {
        let not_an_object = |reason: String| ConfigError::NotAnObject {
            what: "config.put".into(),
            reason,
        };
        let obj: serde_json::Map<String, serde_json::Value> = match payload.first() {
            Some(b'{') => serde_json::from_slice(payload)
                .map_err(|e| not_an_object(format!("line {} column {}", e.line(), e.column())))?,
            _ => rmp_serde::from_slice(payload)
                .map_err(|_| not_an_object("neither JSON nor a MessagePack map".into()))?,
        };
        let values = crate::config::json_to_map(&obj);
        self.provider.config_update(&self.ctx, &values).await
    }
}
