//! Vault tokens: login (AppRole, JWT), the token's TTL (`lookup-self`), and
//! renewal in the background at about 2/3 of the TTL (`renew-self`), with a
//! fresh login when renewal fails or the token expires.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hyper::Method;
use provider_sdk::Secret;

use crate::config::Auth;
use crate::error::VaultError;
use crate::vault::VaultClient;

/// How soon to try again after Vault was unreachable.
const RETRY: Duration = Duration::from_secs(2);
/// The shortest wait between two renewals.
const MIN_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
struct TokenState {
    token: Secret<String>,
    /// `None` until `lookup-self` (or a login) told us.
    lease: Option<Lease>,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    renewable: bool,
    /// Zero: never expires.
    ttl: Duration,
    obtained: Instant,
}

impl Lease {
    fn from_auth(json: &serde_json::Value, ttl_field: &str, obtained: Instant) -> Self {
        Lease {
            renewable: json["renewable"].as_bool().unwrap_or(false),
            ttl: Duration::from_secs(json[ttl_field].as_u64().unwrap_or(0)),
            obtained,
        }
    }

    fn expires(&self) -> Option<Instant> {
        (!self.ttl.is_zero()).then(|| self.obtained + self.ttl)
    }

    fn renew_at(&self) -> Option<Instant> {
        (!self.ttl.is_zero()).then(|| self.obtained + self.ttl * 2 / 3)
    }
}

/// A link's standing with Vault: its client, credentials and current token.
pub struct Session {
    client: Arc<VaultClient>,
    auth: Auth,
    state: Mutex<Option<TokenState>>,
    login_lock: tokio::sync::Mutex<()>,
}

impl Session {
    /// A session; a fixed token is used at once, a login happens on first use
    /// (or in the background task).
    pub fn new(client: Arc<VaultClient>, auth: Auth) -> Arc<Self> {
        let state = match &auth {
            Auth::Token(t) => Some(TokenState {
                token: t.clone(),
                lease: None,
            }),
            _ => None,
        };
        Arc::new(Self {
            client,
            auth,
            state: Mutex::new(state),
            login_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The Vault client.
    pub fn client(&self) -> &VaultClient {
        &self.client
    }

    /// True when a fresh token can be had by logging in again.
    pub fn can_login(&self) -> bool {
        !matches!(self.auth, Auth::Token(_))
    }

    fn current(&self) -> Option<TokenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, state: TokenState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }

    /// The token to call Vault with, logging in first when there is none or
    /// it has expired (login methods only).
    pub async fn token(&self) -> Result<Secret<String>, VaultError> {
        let stale = self.current();
        if let Some(s) = &stale {
            let expired = s
                .lease
                .and_then(|l| l.expires())
                .is_some_and(|e| e <= Instant::now());
            if !expired || !self.can_login() {
                return Ok(s.token.clone());
            }
        }
        self.relogin(stale.as_ref().map(|s| &s.token)).await
    }

    /// Logs in again, unless another task already replaced `stale` meanwhile.
    pub async fn relogin(
        &self,
        stale: Option<&Secret<String>>,
    ) -> Result<Secret<String>, VaultError> {
        let _guard = self.login_lock.lock().await;
        if let Some(s) = self.current() {
            let fresh = s
                .lease
                .and_then(|l| l.expires())
                .is_none_or(|e| e > Instant::now());
            if fresh && stale.is_none_or(|t| t != &s.token) {
                return Ok(s.token);
            }
        }
        let state = self.login().await?;
        let token = state.token.clone();
        self.set(state);
        Ok(token)
    }

    async fn login(&self) -> Result<TokenState, VaultError> {
        let (mount, body) = match &self.auth {
            Auth::Token(_) => {
                return Err(VaultError::Setup(
                    "the token was refused and auth=token cannot log in again".into(),
                ));
            }
            Auth::AppRole {
                mount,
                role_id,
                secret_id,
            } => (
                mount,
                serde_json::json!({"role_id": role_id, "secret_id": secret_id.expose()}),
            ),
            Auth::Jwt { mount, role, jwt } => (
                mount,
                serde_json::json!({"role": role, "jwt": jwt.expose()}),
            ),
        };
        let obtained = Instant::now();
        let path = format!("auth/{}/login", crate::vault::encode_path(mount));
        let resp = self
            .client
            .request(Method::POST, &path, None, Some(&body))
            .await?
            .success()
            .map_err(|e| VaultError::Setup(format!("login at auth/{mount}: {e}")))?;
        let mut json = resp.json()?;
        let auth = json["auth"].take();
        let token = auth["client_token"]
            .as_str()
            .ok_or_else(|| VaultError::Malformed("login answer has no auth.client_token".into()))?;
        let lease = Lease::from_auth(&auth, "lease_duration", obtained);
        tracing::info!(method = %mount, ttl_s = lease.ttl.as_secs(), renewable = lease.renewable, "logged in to Vault");
        Ok(TokenState {
            token: Secret::new(token.to_string()),
            lease: Some(lease),
        })
    }

    async fn lookup(&self, token: &Secret<String>) -> Result<Lease, VaultError> {
        let obtained = Instant::now();
        let resp = self
            .client
            .request(Method::GET, "auth/token/lookup-self", Some(token), None)
            .await?
            .success()?;
        Ok(Lease::from_auth(&resp.json()?["data"], "ttl", obtained))
    }

    async fn renew(&self, token: &Secret<String>) -> Result<Lease, VaultError> {
        let obtained = Instant::now();
        let body = serde_json::json!({});
        let resp = self
            .client
            .request(
                Method::POST,
                "auth/token/renew-self",
                Some(token),
                Some(&body),
            )
            .await?
            .success()?;
        Ok(Lease::from_auth(
            &resp.json()?["auth"],
            "lease_duration",
            obtained,
        ))
    }

    /// One step of the background task: learn, renew or replace the token
    /// when due. Returns how long to wait before the next step, or `None`
    /// when the token never expires (or nothing more can be done).
    async fn step(&self) -> Option<Duration> {
        let Some(state) = self.current() else {
            return Some(match self.relogin(None).await {
                Ok(_) => MIN_WAIT,
                Err(e) => {
                    tracing::warn!(error = %e, "Vault login failed; retrying");
                    RETRY
                }
            });
        };
        let Some(lease) = state.lease else {
            return match self.lookup(&state.token).await {
                Ok(lease) => {
                    self.update(&state.token, lease);
                    Some(MIN_WAIT)
                }
                Err(e) if e.is_permission_denied() => {
                    tracing::warn!(error = %e, "Vault refused the link's token; reads will fail");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "looking up the Vault token failed; retrying");
                    Some(RETRY)
                }
            };
        };
        let now = Instant::now();
        let renew_at = lease.renew_at()?;
        if now < renew_at {
            return Some(renew_at - now);
        }
        if lease.renewable {
            match self.renew(&state.token).await {
                // A token near its max TTL renews for less each time: log in
                // again when renewal no longer buys time.
                Ok(new) if !new.ttl.is_zero() && (new.ttl > lease.ttl / 3 || !self.can_login()) => {
                    tracing::debug!(ttl_s = new.ttl.as_secs(), "renewed the Vault token");
                    self.update(&state.token, new);
                    return Some(MIN_WAIT);
                }
                Ok(_) => tracing::debug!("renewing no longer extends the Vault token"),
                Err(e) => tracing::warn!(error = %e, "renewing the Vault token failed"),
            }
        }
        if !self.can_login() {
            let left = lease.expires().map(|e| e.saturating_duration_since(now));
            if lease.renewable && left.is_some_and(|d| d > RETRY) {
                return Some(RETRY);
            }
            tracing::warn!(left_s = ?left.map(|d| d.as_secs()), "the Vault token cannot be renewed and auth=token cannot log in: it will expire");
            return None;
        }
        match self.relogin(Some(&state.token)).await {
            Ok(_) => Some(MIN_WAIT),
            Err(e) => {
                tracing::warn!(error = %e, "Vault login failed; retrying");
                Some(RETRY)
            }
        }
    }

    fn update(&self, token: &Secret<String>, lease: Lease) {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_mut()
            && &s.token == token
        {
            s.lease = Some(lease);
        }
    }

    /// Starts the background task that keeps the token alive; it ends when
    /// the session is dropped or the token never expires.
    pub fn spawn_renewal(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Session> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(session) = weak.upgrade() else {
                    return;
                };
                let wait = session.step().await;
                drop(session);
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => return,
                }
            }
        })
    }
}
