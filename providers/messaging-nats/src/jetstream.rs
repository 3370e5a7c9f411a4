//! At-least-once delivery from a JetStream durable consumer: a message is
//! acked only after the actor handled it, redelivered (nak) when the actor
//! fails or times out, and published to the dead-letter subject after its
//! last allowed delivery.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use messaging_interface::types::SubMessage;
use tokio::sync::watch;

use crate::config::Durable;
use crate::link::{Deliverer, headers_in};

/// Header carrying the original subject on a dead-lettered message.
pub const DEAD_LETTER_SUBJECT_HEADER: &str = "Lattice-Dead-Letter-Subject";

/// Opens (creating when missing) the durable pull consumer; fails when the
/// stream does not exist.
pub async fn open(client: &async_nats::Client, d: &Durable) -> Result<pull::Stream, String> {
    let js = jetstream::new(client.clone());
    let stream = js
        .get_stream(&d.stream)
        .await
        .map_err(|e| format!("stream {:?}: {e}", d.stream))?;
    let consumer = stream
        .get_or_create_consumer::<pull::Config>(
            &d.consumer,
            pull::Config {
                durable_name: Some(d.consumer.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: d.ack_wait,
                max_deliver: d.max_deliver,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {:?} on {:?}: {e}", d.consumer, d.stream))?;
    consumer
        .messages()
        .await
        .map_err(|e| format!("consuming {:?}: {e}", d.consumer))
}

/// Pulls until told to stop; messages pulled but not yet handed to a
/// handler are redelivered by the server after `ack_wait`.
pub async fn run(
    client: async_nats::Client,
    mut messages: pull::Stream,
    d: Durable,
    deliverer: Deliverer,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() { return; }
                continue;
            }
            m = messages.next() => m,
        };
        let m = match next {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(stream = %d.stream, consumer = %d.consumer, error = %e, "pull failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            None => return,
        };
        let Ok(permit) = deliverer.permits.clone().acquire_owned().await else {
            return;
        };
        let (client, d, deliverer) = (client.clone(), d.clone(), deliverer.clone());
        tokio::spawn(async move {
            handle(&client, &d, &deliverer, m).await;
            drop(permit);
        });
    }
}

async fn handle(
    client: &async_nats::Client,
    d: &Durable,
    deliverer: &Deliverer,
    m: jetstream::Message,
) {
    let delivered = m.info().map(|i| i.delivered).unwrap_or(1);
    let msg = SubMessage {
        subject: m.subject.to_string(),
        // The reply subject of a JetStream message is its ack subject: not the actor's.
        reply_to: None,
        body: m.payload.to_vec(),
        headers: headers_in(m.headers.as_ref()),
    };
    let ack = if deliverer.deliver(&msg).await {
        AckKind::Ack
    } else if delivered >= d.max_deliver {
        let mut headers = m.headers.clone().unwrap_or_default();
        headers.insert(DEAD_LETTER_SUBJECT_HEADER, msg.subject.as_str());
        match client
            .publish_with_headers(d.dead_letter.clone(), headers, m.payload.clone())
            .await
        {
            Ok(()) => {
                tracing::warn!(subject = %msg.subject, dead_letter = %d.dead_letter, delivered, "message dead-lettered after its last delivery");
                AckKind::Term
            }
            // Not dead-lettered: leave it to the server (no ack).
            Err(_) => return,
        }
    } else {
        AckKind::Nak(None)
    };
    if let Err(e) = m.ack_with(ack).await {
        tracing::warn!(subject = %msg.subject, error = %e, "could not ack");
    }
}
