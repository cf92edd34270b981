//! The batch writer: one per session, fed through a bounded channel. Each batch is one
//! transaction, and batches commit in the order they were sent, so what is stored is always a
//! prefix of what the session produced.

use std::collections::VecDeque;
use std::time::Instant;

use openbell_model::SessionId;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

use crate::batch::StagedBatch;
use crate::records::Batch;
use crate::{Store, StoreError};

/// What a writer stored, and the time the database spent on it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Written {
    /// Rows committed.
    pub rows: u64,
    /// Wall time during which at least one batch was in the database's hands.
    pub secs: f64,
}

impl Written {
    /// Both parts together.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self {
            rows: self.rows + other.rows,
            secs: self.secs + other.secs,
        }
    }

    /// Rows per second of database time.
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.rows as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Batches staged at once where the backend gains from it.
const DEPTH: usize = 2;

type Staging = JoinHandle<(usize, Instant, Result<StagedBatch, StoreError>)>;

impl Store {
    /// Writes every batch `batches` delivers for `session` until the channel closes, each in
    /// its own transaction, committed in the order received. Where the backend gains from it
    /// ([`Store::overlapping_writes`]), the next batch is staged on a second connection while
    /// the one before it finishes; the commits stay in order.
    ///
    /// A sender whose channel is full waits: backpressure, never loss. On the first error the
    /// writer stops and drops the channel, so senders see it closed; batches staged after the
    /// failed one are rolled back.
    ///
    /// # Errors
    /// The first [`StoreError`] a batch met.
    pub async fn write_all(
        &self,
        session: SessionId,
        mut batches: Receiver<Batch>,
    ) -> Result<Written, StoreError> {
        let overlap = self.overlapping_writes();
        let mut commits = Commits::default();
        let depth = if overlap { DEPTH } else { 1 };
        let mut in_flight: VecDeque<Staging> = VecDeque::with_capacity(depth);
        while let Some(batch) = batches.recv().await {
            let store = self.clone();
            in_flight.push_back(tokio::spawn(async move {
                let started = Instant::now();
                let staged = store.stage_batch(session, &batch).await;
                (batch.len(), started, staged)
            }));
            if in_flight.len() >= depth
                && let Some(oldest) = in_flight.pop_front()
            {
                commits.commit(oldest).await?;
            }
        }
        while let Some(staging) = in_flight.pop_front() {
            commits.commit(staging).await?;
        }
        Ok(commits.written)
    }
}

/// Commits staged batches in order and counts rows and database time.
#[derive(Default)]
struct Commits {
    written: Written,
    done_at: Option<Instant>,
}

impl Commits {
    async fn commit(&mut self, staging: Staging) -> Result<(), StoreError> {
        let (rows, started, staged) = staging
            .await
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        staged?.commit().await?;
        let end = Instant::now();
        // Time already counted for the batch before (they overlap) is not counted twice.
        let from = self.done_at.map_or(started, |done| done.max(started));
        self.written.rows += rows as u64;
        self.written.secs += end.saturating_duration_since(from).as_secs_f64();
        self.done_at = Some(end);
        Ok(())
    }
}
