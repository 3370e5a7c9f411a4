//! Routes: which actor a request goes to, by host and longest path prefix.

use std::sync::{Arc, RwLock};

use provider_sdk::ProviderContext;

use crate::config::RouteSettings;

/// A link's state: its route on a listener.
#[derive(Debug)]
pub struct RouteHandle {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) id: u64,
}

/// One route: requests matching it go to `actor`.
pub struct Route {
    pub(crate) id: u64,
    /// The linked actor.
    pub actor: String,
    /// The provider context to call the actor with.
    pub ctx: ProviderContext,
    /// The route's settings.
    pub settings: RouteSettings,
}

impl Route {
    pub(crate) fn same_key(&self, other: &Route) -> bool {
        self.settings.host == other.settings.host
            && self.settings.path_prefix == other.settings.path_prefix
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}{}",
            self.settings.host.as_deref().unwrap_or("(any host)"),
            self.settings.path_prefix
        )
    }
}

/// The routes of one listener, replaced whole on every change (readers never wait).
#[derive(Default)]
pub struct RouteTable {
    routes: RwLock<Arc<Vec<Arc<Route>>>>,
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl RouteTable {
    /// Every route.
    pub fn all(&self) -> Arc<Vec<Arc<Route>>> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces every route.
    pub fn set(&self, routes: Vec<Arc<Route>>) {
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routes);
    }

    /// The route for a request: among routes whose host matches (or that
    /// have none), one with a host first, then the longest path prefix.
    pub fn route_for(&self, host: Option<&str>, path: &str) -> Option<Arc<Route>> {
        let host = host.map(|h| h.to_ascii_lowercase());
        self.all()
            .iter()
            .filter(|r| match &r.settings.host {
                Some(h) => host.as_deref() == Some(h.as_str()),
                None => true,
            })
            .filter(|r| prefix_matches(&r.settings.path_prefix, path))
            .max_by_key(|r| (r.settings.host.is_some(), r.settings.path_prefix.len()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/v1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(!prefix_matches("/api", "/"));
    }
}
