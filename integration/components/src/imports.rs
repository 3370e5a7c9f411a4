//! What a component's imports do: each becomes a signed lattice call over
//! the component's newest link to a provider of that contract, or answers
//! the interface's own error when there is none. WASI is wasmtime's, with
//! nothing granted; `wasi:http/outgoing-handler` refuses every request.

use std::collections::BTreeMap;
use std::sync::Arc;

use keyvalue_interface::KeyValueClient;
use lattice_rpc::{ErrorCode, RpcClient, RpcError};
use messaging_interface::MessagingClient;
use secrets_interface::SecretsClient;
use secrets_interface::types::SecretValue as WireSecret;
use wasmtime::StoreLimits;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::host::wasi::config0_2_0_draft::runtime as wasi_config;
use crate::bindings::host::wasi::config0_2_0_rc_1::store as wasi_config_store;
use crate::bindings::host::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::host::wasi::logging::logging;
use crate::bindings::host::wasmcloud::messaging::{consumer, types as mtypes};
use crate::bindings::host::wasmcloud::secrets::{reveal, store as secrets};
use crate::links::Routes;

/// What every instance of one component shares.
pub struct App {
    /// The component's name in logs.
    pub name: String,
    /// Its actor key.
    pub actor: String,
    /// Signs and sends its calls.
    pub rpc: RpcClient,
    /// Its links, by contract.
    pub routes: Routes,
    /// What `wasi:config/runtime` answers.
    pub config: BTreeMap<String, String>,
    /// The time limit of one call: no import waits longer.
    pub time_limit: std::time::Duration,
    /// One secrets client per provider link, so each keeps its reply key.
    secrets: std::sync::Mutex<BTreeMap<(String, String), SecretsClient>>,
}

impl App {
    /// The shared part of a component's instances.
    pub fn new(
        name: String,
        actor: String,
        rpc: RpcClient,
        routes: Routes,
        config: BTreeMap<String, String>,
        time_limit: std::time::Duration,
    ) -> Self {
        Self {
            name,
            actor,
            rpc,
            routes,
            config,
            time_limit,
            secrets: Default::default(),
        }
    }

    fn keyvalue(&self) -> Option<KeyValueClient> {
        let (pk, ln) = self.routes.newest(keyvalue_interface::CONTRACT_ID)?;
        Some(KeyValueClient::new(self.rpc.clone(), &self.actor, &pk, &ln))
    }

    fn messaging(&self) -> Option<MessagingClient> {
        let (pk, ln) = self.routes.newest(messaging_interface::CONTRACT_ID)?;
        Some(MessagingClient::new(
            self.rpc.clone(),
            &self.actor,
            &pk,
            &ln,
        ))
    }

    fn secrets(&self) -> Option<SecretsClient> {
        let key = self.routes.newest(secrets_interface::CONTRACT_ID)?;
        let mut map = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let client = map
            .entry(key.clone())
            .or_insert_with(|| SecretsClient::new(self.rpc.clone(), &self.actor, &key.0, &key.1));
        Some(client.clone())
    }
}

/// A bucket a component opened: its identifier, passed through on every call.
pub struct Bucket {
    name: String,
}

/// A secret a component read; the value stays in the host until revealed.
pub struct SecretHandle {
    value: WireSecret,
}

/// The store data of one instance (one request).
pub struct Ctx {
    pub(crate) app: Arc<App>,
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: DenyOutgoing,
    pub(crate) limits: StoreLimits,
}

impl Ctx {
    /// Data for a new instance of `app`.
    pub fn new(app: Arc<App>, wasi: WasiCtx, limits: StoreLimits) -> Self {
        Self {
            app,
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: DenyOutgoing,
            limits,
        }
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// A component reaches the network only through its links: every outgoing
/// HTTP request is refused.
struct DenyOutgoing;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async {
            Err(wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::HttpRequestDenied.into())
        })
    }
}

// ---- wasi:keyvalue ----

fn kv_error(e: RpcError) -> store::Error {
    match &e.code {
        ErrorCode::Interface(c) if c == "keyvalue.no-such-store" => store::Error::NoSuchStore,
        ErrorCode::NotLinked | ErrorCode::Unauthorized => store::Error::AccessDenied,
        _ => store::Error::Other(e.to_string()),
    }
}

fn no_kv_link() -> store::Error {
    store::Error::AccessDenied
}

impl Ctx {
    fn bucket_name(&self, b: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(b)?.name.clone())
    }

    fn kv(&self) -> Result<KeyValueClient, store::Error> {
        self.app.keyvalue().ok_or_else(no_kv_link)
    }
}

type Kv<T> = wasmtime::Result<Result<T, store::Error>>;

impl store::Host for Ctx {
    async fn open(&mut self, identifier: String) -> Kv<Resource<Bucket>> {
        if let Err(e) = keyvalue_interface::validate_bucket(&identifier) {
            return Ok(Err(store::Error::Other(e.to_string())));
        }
        if self.app.keyvalue().is_none() {
            return Ok(Err(no_kv_link()));
        }
        Ok(Ok(self.table.push(Bucket { name: identifier })?))
    }
}

impl store::HostBucket for Ctx {
    async fn get(&mut self, b: Resource<Bucket>, key: String) -> Kv<Option<Vec<u8>>> {
        let bucket = self.bucket_name(&b)?;
        Ok(match self.kv() {
            Ok(c) => c.store_get(&bucket, &key).await.map_err(kv_error),
            Err(e) => Err(e),
        })
    }

    async fn set(&mut self, b: Resource<Bucket>, key: String, value: Vec<u8>) -> Kv<()> {
        let bucket = self.bucket_name(&b)?;
        Ok(match self.kv() {
            Ok(c) => c
                .store_set(&bucket, &key, &value, None)
                .await
                .map_err(kv_error),
            Err(e) => Err(e),
        })
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Kv<()> {
        let bucket = self.bucket_name(&b)?;
        Ok(match self.kv() {
            Ok(c) => c.store_delete(&bucket, &key).await.map_err(kv_error),
            Err(e) => Err(e),
        })
    }

    async fn exists(&mut self, b: Resource<Bucket>, key: String) -> Kv<bool> {
        let bucket = self.bucket_name(&b)?;
        Ok(match self.kv() {
            Ok(c) => c.store_exists(&bucket, &key).await.map_err(kv_error),
            Err(e) => Err(e),
        })
    }

    /// The upstream cursor is a number and the contract's is text, so the
    /// host walks every page of the provider and answers all keys at once
    /// (cursor `none`); a cursor from the component is refused.
    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Kv<store::KeyResponse> {
        if cursor.is_some() {
            return Ok(Err(store::Error::Other(
                "this host answers every key in one response; there is no next page".into(),
            )));
        }
        let bucket = self.bucket_name(&b)?;
        let c = match self.kv() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let mut keys = Vec::new();
        let mut next: Option<String> = None;
        loop {
            match c.list_keys(&bucket, None, next.as_deref(), None).await {
                Ok(page) => {
                    keys.extend(page.keys);
                    match page.cursor {
                        Some(cur) if Some(&cur) != next.as_ref() => next = Some(cur),
                        _ => break,
                    }
                }
                Err(e) => return Ok(Err(kv_error(e))),
            }
        }
        Ok(Ok(store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for Ctx {
    async fn increment(&mut self, b: Resource<Bucket>, key: String, delta: u64) -> Kv<u64> {
        let bucket = self.bucket_name(&b)?;
        let Ok(delta) = i64::try_from(delta) else {
            return Ok(Err(store::Error::Other(
                "delta is larger than 2^63-1".into(),
            )));
        };
        Ok(match self.kv() {
            Ok(c) => match c.increment_by(&bucket, &key, delta).await {
                Ok(v) => u64::try_from(v)
                    .map_err(|_| store::Error::Other(format!("the value is negative ({v})"))),
                Err(e) => Err(kv_error(e)),
            },
            Err(e) => Err(e),
        })
    }
}

impl batch::Host for Ctx {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Kv<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket_name(&b)?;
        let c = match self.kv() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(match c.get_many(&bucket, &refs).await {
            Ok(values) => Ok(keys
                .iter()
                .zip(values)
                .map(|(k, v)| v.map(|v| (k.clone(), v)))
                .collect()),
            Err(e) => Err(kv_error(e)),
        })
    }

    async fn set_many(&mut self, b: Resource<Bucket>, entries: Vec<(String, Vec<u8>)>) -> Kv<()> {
        let bucket = self.bucket_name(&b)?;
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        Ok(match self.kv() {
            Ok(c) => c.set_many(&bucket, &refs, None).await.map_err(kv_error),
            Err(e) => Err(e),
        })
    }

    async fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Kv<()> {
        let bucket = self.bucket_name(&b)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(match self.kv() {
            Ok(c) => c.delete_many(&bucket, &refs).await.map_err(kv_error),
            Err(e) => Err(e),
        })
    }
}

// ---- wasmcloud:messaging ----

const NO_MESSAGING_LINK: &str =
    "not-linked: this component has no link to a wasmcloud:messaging provider";

impl mtypes::Host for Ctx {}

impl consumer::Host for Ctx {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<mtypes::BrokerMessage, String>> {
        let Some(c) = self.app.messaging() else {
            return Ok(Err(NO_MESSAGING_LINK.into()));
        };
        // No longer than the call it is part of may take.
        let timeout = std::time::Duration::from_millis(timeout_ms.into()).min(self.app.time_limit);
        Ok(match c.request(&subject, &body, timeout).await {
            Ok(r) => Ok(mtypes::BrokerMessage {
                subject: r.subject,
                body: r.body,
                reply_to: r.reply_to,
            }),
            Err(e) => Err(e.to_string()),
        })
    }

    async fn publish(
        &mut self,
        msg: mtypes::BrokerMessage,
    ) -> wasmtime::Result<Result<(), String>> {
        let Some(c) = self.app.messaging() else {
            return Ok(Err(NO_MESSAGING_LINK.into()));
        };
        Ok(c.publish(&msg.subject, msg.reply_to.as_deref(), &msg.body)
            .await
            .map_err(|e| e.to_string()))
    }
}

// ---- wasmcloud:secrets ----

impl secrets::Host for Ctx {
    /// `key` is the secret's path, with `#field` to pick one field.
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, secrets::SecretsError>> {
        let Some(c) = self.app.secrets() else {
            return Ok(Err(secrets::SecretsError::Upstream(
                "not-linked: this component has no link to a wasmcloud:secrets provider".into(),
            )));
        };
        let (path, field) = match key.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (key.as_str(), None),
        };
        match c.get_open(path, field, None).await {
            Ok(value) => Ok(Ok(self.table.push(SecretHandle { value })?)),
            Err(e) if e.code.as_str() == secrets_interface::error::NOT_FOUND => {
                Ok(Err(secrets::SecretsError::NotFound))
            }
            Err(e) => Ok(Err(secrets::SecretsError::Upstream(e.to_string()))),
        }
    }
}

impl secrets::HostSecret for Ctx {
    async fn drop(&mut self, s: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl reveal::Host for Ctx {
    async fn reveal(
        &mut self,
        s: Resource<SecretHandle>,
    ) -> wasmtime::Result<secrets::SecretValue> {
        Ok(match &self.table.get(&s)?.value {
            WireSecret::String(v) => secrets::SecretValue::String(v.clone()),
            WireSecret::Bytes(v) => secrets::SecretValue::Bytes(v.clone()),
        })
    }
}

// ---- wasi:logging, wasi:config ----

impl logging::Host for Ctx {
    async fn log(
        &mut self,
        level: logging::Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        let c = &self.app.name;
        match level {
            logging::Level::Trace => tracing::trace!(component = %c, context, "{message}"),
            logging::Level::Debug => tracing::debug!(component = %c, context, "{message}"),
            logging::Level::Info => tracing::info!(component = %c, context, "{message}"),
            logging::Level::Warn => tracing::warn!(component = %c, context, "{message}"),
            logging::Level::Error | logging::Level::Critical => {
                tracing::error!(component = %c, context, "{message}")
            }
        }
        Ok(())
    }
}

impl App {
    fn config_pairs(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl wasi_config::Host for Ctx {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wasi_config::ConfigError>> {
        Ok(Ok(self.app.config.get(&key).cloned()))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::ConfigError>> {
        Ok(Ok(self.app.config_pairs()))
    }
}

impl wasi_config_store::Host for Ctx {
    async fn get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, wasi_config_store::Error>> {
        Ok(Ok(self.app.config.get(&key).cloned()))
    }

    async fn get_all(
        &mut self,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config_store::Error>> {
        Ok(Ok(self.app.config_pairs()))
    }
}

/// Adds every import this host provides to `linker`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<Ctx>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::bindings::host::Imports::add_to_linker::<Ctx, HasSelf<Ctx>>(linker, |c| c)?;
    Ok(())
}
