#![allow(clippy::unwrap_used)]
//! Relinking an actor from keyvalue-redis to keyvalue-nats under load: every
//! call succeeds, calls after the relink land in NATS, nothing restarts.
//!
//! The host routes each call of the actor to the provider it is linked to.
//! A relink is: put the link on the new provider, switch the route (new calls
//! go to the new provider; the switch waits for calls in flight on the old
//! route), then delete the old link. That is what keeps the count of failed
//! calls at zero.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyvalue_interface::KeyValueClient;
use lattice_host::{ProviderRef, new_actor};
use tokio::sync::RwLock;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Served {
    Redis,
    Nats,
}

#[tokio::test]
async fn relinking_from_redis_to_nats_under_load_fails_no_call() {
    let host = Arc::new(lattice_conformance::test_host().await.unwrap());
    let actor = new_actor();
    let run = uuid_suffix();
    let bucket = format!("swap{run}");

    let hd_r = host.host_data("default");
    let redis_p = ProviderRef::new(
        &hd_r.provider_key,
        "default",
        keyvalue_interface::CONTRACT_ID,
    );
    let mut redis_proc = host
        .launch(&lattice_fixtures::binary("keyvalue-redis").unwrap(), hd_r)
        .await
        .unwrap();
    let hd_n = host.host_data("default");
    let nats_p = ProviderRef::new(
        &hd_n.provider_key,
        "default",
        keyvalue_interface::CONTRACT_ID,
    );
    let mut nats_proc = host
        .launch(&lattice_fixtures::binary("keyvalue-nats").unwrap(), hd_n)
        .await
        .unwrap();
    // What each provider reports about its process, to prove nothing restarts.
    let started = async || {
        let r = host.health(&redis_p).await.unwrap();
        let n = host.health(&nats_p).await.unwrap();
        (r.pid, r.started_at_ms, n.pid, n.started_at_ms)
    };
    let before = started().await;
    assert!(before.1.is_some() && before.3.is_some());

    host.link_actor(&redis_p, &actor, &[("url", "redis://127.0.0.1:6379/")])
        .await
        .unwrap();
    let client =
        |p: &ProviderRef| KeyValueClient::new(host.rpc().clone(), &actor, &p.key, "default");
    let route = Arc::new(RwLock::new((Served::Redis, client(&redis_p))));

    const CALLS: usize = 1500;
    const WORKERS: usize = 8;
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let quarter = Arc::new(tokio::sync::Notify::new());
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (route, done, quarter, run) =
            (route.clone(), done.clone(), quarter.clone(), run.clone());
        workers.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for i in (w..CALLS).step_by(WORKERS) {
                if Instant::now() > deadline {
                    break;
                }
                let key = format!("{run}-k{i}");
                // The read guard is held for the call: the relink waits for it.
                let guard = route.read().await;
                let (served, kv) = (guard.0, guard.1.clone());
                let result = kv.set(&key, &i.to_string(), 0).await;
                drop(guard);
                log.push((key, served, result.map_err(|e| e.to_string())));
                if done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == CALLS / 4 {
                    quarter.notify_one();
                }
            }
            log
        }));
    }

    // Relink once a quarter of the load has gone through.
    quarter.notified().await;
    host.link_actor(&nats_p, &actor, &[("default_bucket", &bucket)])
        .await
        .unwrap();
    {
        let mut r = route.write().await;
        *r = (Served::Nats, client(&nats_p));
    }
    assert!(host.del_link(&redis_p, &actor).await.unwrap().accepted);

    let mut log = Vec::new();
    for w in workers {
        log.extend(w.await.unwrap());
    }
    assert_eq!(log.len(), CALLS, "the load loop hit its time bound");
    let failed: Vec<_> = log.iter().filter(|(_, _, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} calls failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );

    // Where did each write land? Read the stores directly, not through the providers.
    let redis = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    let mut rc = redis.get_multiplexed_async_connection().await.unwrap();
    let js = async_nats::jetstream::new(host.nats().clone());
    let kvb = js.get_key_value(&bucket).await.unwrap();
    let (mut on_redis, mut on_nats) = (0, 0);
    for (key, served, _) in &log {
        let in_redis: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut rc)
            .await
            .unwrap();
        let in_nats = kvb.get(key).await.unwrap();
        match served {
            Served::Redis => {
                assert!(
                    in_redis.is_some() && in_nats.is_none(),
                    "{key} routed to Redis"
                );
                on_redis += 1;
            }
            Served::Nats => {
                assert!(
                    in_nats.is_some() && in_redis.is_none(),
                    "{key} routed to NATS"
                );
                on_nats += 1;
            }
        }
    }
    assert!(
        on_redis >= CALLS / 4 && on_nats > 0,
        "redis {on_redis}, nats {on_nats}"
    );
    println!(
        "{on_redis} calls served by keyvalue-redis, then {on_nats} by keyvalue-nats, 0 failed"
    );

    // Nothing restarted.
    assert!(redis_proc.try_status().is_none() && nats_proc.try_status().is_none());
    assert_eq!(started().await, before);

    let keys: Vec<String> = log.iter().map(|(k, _, _)| k.clone()).collect();
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut rc)
        .await
        .unwrap();
    js.delete_key_value(&bucket).await.unwrap();
}

fn uuid_suffix() -> String {
    lattice_host::new_actor()[..10].to_lowercase()
}
