//! `GET /sessions/{id}/events`: Server-Sent Events. The session's record is replayed first
//! (its status, then each trading day and each fill as stored), then, while it runs, its live
//! events follow: `phase`, `day`, `fill`, `equity` samples and `status` changes. A day or fill
//! already replayed is not sent twice. The stream ends after the final `status` once the
//! session has ended.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use openbell_model::SessionId;
use openbell_store::Store;
use tokio::sync::{broadcast, mpsc, watch};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody};
use crate::runner::{EventKey, LiveEvent, status_event};
use crate::sessions::visible;

/// Rows read per page while replaying.
const PAGE: i64 = 1000;

/// How often a session run by another process is re-read.
const POLL: Duration = Duration::from_secs(1);

/// `GET /sessions/{id}/events`.
///
/// # Errors
/// 404 when there is no such session or it belongs to someone else.
#[utoipa::path(get, path = "/sessions/{id}/events", tag = "sessions",
    params(("id" = String, Path, description = "The session id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `status`, `day`, `fill` (replayed, then live), `phase` and `equity` (live); ends after the final `status`", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such session, or someone else's", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    user: CurrentUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let row = visible(&state, &user.user, id).await?;
    // Subscribed before the record is read, so nothing falls between the two.
    let live = state.runner.subscribe(row.id);
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    let pump = Pump {
        store: state.store.clone(),
        id: row.id,
        tx,
        last_day: None,
        last_fill: 0,
        last_status: None,
        lagged: false,
    };
    tokio::spawn(pump.run(live, state.closing.subscribe()));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The reader went away.
struct Gone;

struct Pump {
    store: Store,
    id: SessionId,
    tx: mpsc::Sender<SseEvent>,
    last_day: Option<String>,
    last_fill: i64,
    /// The last `status` sent, so the same row is not sent twice.
    last_status: Option<String>,
    /// Set once the live channel dropped events: days and fills then come from the record
    /// only, re-read every [`POLL`], so none is skipped.
    lagged: bool,
}

impl Pump {
    async fn run(
        mut self,
        live: Option<broadcast::Receiver<Arc<LiveEvent>>>,
        closing: watch::Receiver<bool>,
    ) {
        let _ = self.stream(live, closing).await;
    }

    async fn stream(
        &mut self,
        live: Option<broadcast::Receiver<Arc<LiveEvent>>>,
        mut closing: watch::Receiver<bool>,
    ) -> Result<(), Gone> {
        let Some(mut status) = self.status().await? else {
            return Ok(());
        };
        self.replay().await?;
        if let Some(mut live) = live {
            loop {
                let received = tokio::select! {
                    received = live.recv() => received,
                    () = tokio::time::sleep(POLL), if self.lagged => {
                        self.replay().await?;
                        continue;
                    }
                    () = closed(&mut closing) => break,
                    // The reader went away while the session was quiet.
                    () = self.tx.closed() => return Err(Gone),
                };
                match received {
                    Ok(event) => self.forward(&event).await?,
                    // Fell behind: what it missed is in the record (or soon will be).
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.lagged = true;
                        self.replay().await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        } else {
            // Run by another process (or not at all): the record, re-read until it ends.
            while status.is_live() {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = closed(&mut closing) => break,
                    () = self.tx.closed() => return Err(Gone),
                }
                self.replay().await?;
                match self.read_status().await {
                    Some(now) if now != status => {
                        status = now;
                        self.status().await?;
                    }
                    _ => {}
                }
            }
        }
        // The session ended (every record is committed by then) or the server is closing: the
        // record's tail, then the row as it stands, always, to close the stream.
        self.replay().await?;
        self.last_status = None;
        self.status().await?;
        Ok(())
    }

    async fn send(&self, event: SseEvent) -> Result<(), Gone> {
        self.tx.send(event).await.map_err(|_| Gone)
    }

    async fn read_status(&self) -> Option<openbell_model::SessionStatus> {
        self.store
            .session(self.id)
            .await
            .ok()
            .flatten()
            .map(|r| r.status)
    }

    /// Sends the session row as a `status` event (unless it repeats the last one sent); its
    /// status, or `None` once it is deleted.
    async fn status(&mut self) -> Result<Option<openbell_model::SessionStatus>, Gone> {
        let Ok(Some(row)) = self.store.session(self.id).await else {
            return Ok(None);
        };
        let status = row.status;
        self.send_status(status_event(row).data).await?;
        Ok(Some(status))
    }

    /// Sends a `status` event unless it repeats the last one.
    async fn send_status(&mut self, data: String) -> Result<(), Gone> {
        if self.last_status.as_ref() == Some(&data) {
            return Ok(());
        }
        self.send(SseEvent::default().event("status").data(&data))
            .await?;
        self.last_status = Some(data);
        Ok(())
    }

    /// Sends the days and fills stored since the last ones sent.
    async fn replay(&mut self) -> Result<(), Gone> {
        // Only what is newer than what was sent: a page at a time, from the last one.
        loop {
            let Ok(days) = self
                .store
                .days_page(self.id, self.last_day.as_deref(), PAGE)
                .await
            else {
                break;
            };
            let full = days.len() as i64 == PAGE;
            for day in days {
                self.send(json_event("day", &day)).await?;
                self.last_day = Some(day.date);
            }
            if !full {
                break;
            }
        }
        loop {
            let Ok(fills) = self.store.fills_page(self.id, self.last_fill, PAGE).await else {
                break;
            };
            let full = fills.len() as i64 == PAGE;
            for fill in fills {
                self.last_fill = fill.seq;
                self.send(json_event("fill", &fill)).await?;
            }
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Sends a live event unless the replay already sent it.
    async fn forward(&mut self, event: &LiveEvent) -> Result<(), Gone> {
        if self.lagged && event.key != EventKey::None {
            return Ok(());
        }
        match &event.key {
            EventKey::Day(date) => {
                if self.last_day.as_ref().is_some_and(|d| d >= date) {
                    return Ok(());
                }
                self.last_day = Some(date.clone());
            }
            EventKey::Fill(seq) => {
                if *seq <= self.last_fill {
                    return Ok(());
                }
                self.last_fill = *seq;
            }
            EventKey::None if event.kind == "status" => {
                return self.send_status(event.data.clone()).await;
            }
            EventKey::None => {}
        }
        self.send(SseEvent::default().event(event.kind).data(&event.data))
            .await
    }
}

/// Resolves once the server begins to shut down.
async fn closed(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

fn json_event(kind: &'static str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default()
        .event(kind)
        .data(serde_json::to_string(data).unwrap_or_default())
}
