#![allow(clippy::unwrap_used)]
//! Hostile clients: slow headers, huge declared bodies, oversized chunked
//! bodies, header floods and thousands of malformed requests.

mod common;

use std::time::{Duration, Instant};

use common::{actor, free_addr, launch, wait_listening};
use lattice_fixtures::http1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `raw`, then reads until the server closes (at most `within`).
async fn exchange(addr: &str, raw: &[u8], within: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, s.read_to_end(&mut out)).await;
    out
}

fn status(raw: &[u8]) -> u16 {
    http1::parse(raw, true).map(|r| r.status).unwrap_or(0)
}

#[tokio::test]
async fn slow_headers_are_cut_off_by_the_header_timeout() {
    let l = launch().await;
    let addr = free_addr();
    let a = actor(&l.host, "a", Duration::ZERO).await;
    let values = [
        ("address", addr.as_str()),
        ("header_read_timeout_ms", "400"),
    ];
    l.host.link_actor(&l.pref, &a.key, &values).await.unwrap();
    wait_listening(&addr).await;

    for partial in ["GET /slow HT", "", "PRI * HTTP/2"] {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(partial.as_bytes()).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        let elapsed = started.elapsed();
        // Closed (EOF or reset), maybe after a 408: never left hanging.
        match read {
            Ok(Ok(n)) => {
                if n > 0 {
                    let rest = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
                    assert!(
                        matches!(rest, Ok(Ok(0)) | Ok(Err(_))),
                        "{partial:?}: still open"
                    );
                }
            }
            Ok(Err(_)) => {}
            Err(_) => panic!("{partial:?}: the connection was not cut off within 5 s"),
        }
        assert!(
            elapsed >= Duration::from_millis(300),
            "{partial:?}: cut after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "{partial:?}: cut after {elapsed:?}"
        );
    }
    // A request with its head in time still works.
    assert_eq!(
        http1::request(&addr, "GET", "/", &[], b"")
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn huge_bodies_are_refused_with_413_without_being_read() {
    let l = launch().await;
    let addr = free_addr();
    let mut a = actor(&l.host, "a", Duration::ZERO).await;
    l.host
        .link_actor(
            &l.pref,
            &a.key,
            &[("address", &addr), ("max_content_len", "1K")],
        )
        .await
        .unwrap();
    wait_listening(&addr).await;

    // Declared 1 GiB, nothing of it sent: answered at once.
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 1073741824\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut raw))
        .await
        .expect("413 not sent before the body")
        .unwrap();
    assert_eq!(status(&raw), 413);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Chunked, no length declared: refused once past the limit.
    let mut chunked =
        b"POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'z'; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    let raw = exchange(&addr, &chunked, Duration::from_secs(3)).await;
    assert_eq!(status(&raw), 413);
    assert!(
        a.seen.try_recv().is_err(),
        "the actor saw an oversized body"
    );

    // Within the limit, chunked: forwarded whole.
    let raw = exchange(
        &addr,
        b"POST /ok HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(status(&raw), 200);
    assert_eq!(a.seen.recv().await.unwrap().body, b"abc");
}

#[tokio::test]
async fn header_floods_get_431() {
    let l = launch().await;
    let addr = free_addr();
    let a = actor(&l.host, "a", Duration::ZERO).await;
    l.host
        .link_actor(
            &l.pref,
            &a.key,
            &[("address", &addr), ("max_headers", "20")],
        )
        .await
        .unwrap();
    wait_listening(&addr).await;
    let mut many = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
    for i in 0..50 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let raw = exchange(&addr, many.as_bytes(), Duration::from_secs(3)).await;
    assert_eq!(status(&raw), 431);
    let big = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let raw = exchange(&addr, big.as_bytes(), Duration::from_secs(3)).await;
    assert_eq!(status(&raw), 431);
}

const MALFORMED: [&[u8]; 10] = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nhost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\nbad name: v\r\n\r\n",
    b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
    b"GET /\x7f\x00 HTTP/1.1\r\nhost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x09\xff\xff\xff\xff\xff",
];

#[tokio::test]
async fn ten_thousand_malformed_requests_leave_the_provider_healthy() {
    let mut l = launch().await;
    let addr = free_addr();
    let a = actor(&l.host, "a", Duration::ZERO).await;
    l.host
        .link_actor(&l.pref, &a.key, &[("address", &addr)])
        .await
        .unwrap();
    wait_listening(&addr).await;
    const TOTAL: usize = 10_000;
    const CONNS: usize = 4;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut answered) = (0usize, 0usize);
            for i in (c..TOTAL).step_by(CONNS) {
                if Instant::now() > deadline {
                    break;
                }
                let raw = exchange(
                    &addr,
                    MALFORMED[i % MALFORMED.len()],
                    Duration::from_secs(2),
                )
                .await;
                sent += 1;
                answered += usize::from(!raw.is_empty());
            }
            (sent, answered)
        }));
    }
    let (mut sent, mut answered) = (0, 0);
    for t in tasks {
        let (s, a) = t.await.unwrap();
        sent += s;
        answered += a;
    }
    println!("{sent} malformed requests sent, {answered} answered with a status");
    assert_eq!(sent, TOTAL, "the loop hit its time bound");
    let health = l.host.health(&l.pref).await.unwrap();
    assert!(health.healthy, "{health:?}");
    assert!(l.proc.try_status().is_none(), "the provider exited");
    let r = http1::request(&addr, "POST", "/", &[], b"still")
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"a:still"[..]));
}
