#![allow(clippy::unwrap_used)]
//! keyvalue-redis against the keyvalue contract suite and Redis failures.

use std::time::{Duration, Instant};

use integration::suite::keyvalue::KvSuite;
use integration::{Host, ProviderRef, Target, binary};
use keyvalue::KeyValueClient;
use provider_sdk::ErrorCode;

fn redis_url() -> String {
    std::env::var("LATTICE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

async fn launch(
    host: &Host,
    config_json: Option<String>,
) -> (ProviderRef, integration::ProviderProcess) {
    let mut hd = host.host_data("default");
    hd.config_json = config_json;
    let pref = ProviderRef::new(&hd.provider_key, "default", keyvalue::CONTRACT_ID);
    let bin = binary("keyvalue-redis", "keyvalue-redis", Target::Bin).unwrap();
    let p = host.launch(&bin, hd).await.unwrap();
    (pref, p)
}

#[tokio::test]
async fn keyvalue_suite_passes_against_redis() {
    let host = Host::for_tests().await.unwrap();
    let (pref, _p) = launch(&host, None).await;
    let url = redis_url();
    // The legacy upper-case key name of the archived provider.
    let suite = KvSuite::link(&host, &pref, &[("URL", &url)], keyvalue::Capabilities::ALL)
        .await
        .unwrap();
    let report = suite.run("redis", None).await;
    println!("{report}");
    let cleaned = suite.cleanup().await.unwrap();
    assert!(report.passed(), "{report}");
    assert!(cleaned > 1250, "cleanup removed only {cleaned} keys");
    host.delete_chunk_bucket().await.unwrap();
}

/// A private redis-server on a free port, killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = integration::servers::free_port().unwrap();
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_down_answers_unavailable_in_time_and_recovers_without_restart() {
    let mut redis = PrivateRedis::start();
    let host = Host::for_tests().await.unwrap();
    let config = serde_json::json!({"url": redis.url(), "response_timeout_ms": 500, "connect_timeout_ms": 500});
    let (pref, mut proc) = launch(&host, Some(config.to_string())).await;
    let pid = proc.pid();
    let actor = integration::new_actor();
    host.link_actor(&pref, &actor, &[]).await.unwrap();
    let kv = KeyValueClient::new(host.rpc().clone(), &actor, &pref.key, "default");
    kv.set("k", "v", 0).await.unwrap();
    assert!(host.health(&pref).await.unwrap().healthy);

    redis.stop();
    let started = Instant::now();
    let err = kv.get("k").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    let health = host.health(&pref).await.unwrap();
    assert!(!health.healthy, "healthy while Redis is down");
    assert!(health.message.unwrap_or_default().contains("PING"));

    redis.restart();
    // The data was not persisted (a fresh server); what matters is that calls work again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match kv.set("k", "back", 0).await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "not back within 20 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("back"));
    assert!(host.health(&pref).await.unwrap().healthy);
    assert!(proc.try_status().is_none());
    assert_eq!(proc.pid(), pid);
}

#[tokio::test]
async fn invalid_url_is_refused_at_link_time_and_the_old_link_keeps_working() {
    let host = Host::for_tests().await.unwrap();
    let (pref, _p) = launch(&host, None).await;
    let actor = integration::new_actor();
    host.link_actor(&pref, &actor, &[("url", &redis_url())])
        .await
        .unwrap();
    let ack = host
        .put_link(
            &pref,
            &host.link(&pref, &actor, &[("url", "http://:hunter2@nowhere")]),
        )
        .await
        .unwrap();
    assert!(!ack.accepted);
    let why = ack.error.unwrap_or_default();
    assert!(
        why.contains("not a valid Redis URL") && !why.contains("hunter2"),
        "{why}"
    );
    let kv = KeyValueClient::new(host.rpc().clone(), &actor, &pref.key, "default");
    let key = format!("still-{}", integration::new_actor());
    kv.set(&key, "works", 0).await.unwrap();
    assert!(kv.del(&key).await.unwrap());
}
