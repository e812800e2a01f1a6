//! `drover events` on the server side: the lifecycle events of the
//! instances asked for, from the log hub's event channel, until drover
//! exits. A follower holds one of the server's follower permits, like
//! `logs -f`, so followers never starve requests.
//!
//! Must not: touch the process table, or format events (the supervisor's
//! shell wrote each object).

use std::io;

use tokio::io::AsyncWriteExt as _;
use tokio::sync::{broadcast, watch};

use super::protocol::{Message, Reply};
use crate::output::logs::LogHub;
use crate::types::resolve::{resolve, Instance};

/// Serves an `events` request for `names` (empty: all) on `w`.
pub(super) async fn serve_events(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    (hub, processes): (&LogHub, &[String]),
    names: &[String],
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    // Subscribed before the header: the client misses nothing after it.
    let mut rx = hub.subscribe_events();
    let all = hub.names();
    let wanted: Vec<String> = if names.is_empty() {
        all.to_vec()
    } else {
        let table: Vec<Instance<'_>> = all
            .iter()
            .zip(processes)
            .map(|(name, process)| Instance { name, process })
            .collect();
        match resolve(names, &table) {
            Ok(found) => found.into_iter().map(|i| all[i].clone()).collect(),
            Err(e) => {
                let message = Message::Error(e.to_string()).to_line();
                return w.write_all(&message).await;
            }
        }
    };
    let header = Reply::Names {
        names: wanted.clone(),
        log_dir: None,
    };
    w.write_all(&Message::Ok(header).to_line()).await?;
    let pass = |name: &Option<String>| name.as_ref().is_none_or(|n| wanted.contains(n));
    loop {
        let event = tokio::select! {
            r = rx.recv() => match r {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    w.write_all(&Message::Skipped(n).to_line()).await?;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = stop.changed() => break,
        };
        if pass(&event.name) {
            w.write_all(&Message::Event(event.json.clone()).to_line())
                .await?;
        }
    }
    // The last events (the exits of the shutdown) are still queued.
    while let Ok(event) = rx.try_recv() {
        if pass(&event.name) {
            w.write_all(&Message::Event(event.json.clone()).to_line())
                .await?;
        }
    }
    w.write_all(&Message::End.to_line()).await
}
