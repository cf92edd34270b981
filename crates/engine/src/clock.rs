//! Time as an input. The engine never reads the wall clock itself: a [`Clock`] tells it the
//! time and, in clock-driven mode, paces it.

use openbell_model::Timestamp;

/// The engine's clock.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Moves the clock to `ts` (never backwards). A paced clock waits until its own time has
    /// reached `ts`; a simulated one jumps.
    fn advance_to(&mut self, ts: Timestamp);
}

/// A clock that jumps to whatever time it is given: data-driven backtests, and clock-driven
/// tests that need no real waiting.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatedClock {
    now: Timestamp,
}

impl SimulatedClock {
    /// A clock at `now`.
    #[must_use]
    pub const fn at(now: Timestamp) -> Self {
        Self { now }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn advance_to(&mut self, ts: Timestamp) {
        self.now = self.now.max(ts);
    }
}

/// Elapsed real time, the one thing a paced clock needs from the outside world.
pub trait Pacer {
    /// Waits `nanos` of simulated time at the pacer's speed.
    fn wait(&mut self, nanos: i64);
}

/// A clock that runs at `speed` × real time through a [`Pacer`] (1 = wall time, 60 = an hour a
/// minute). Clock-driven sessions (paper, collect) use it.
#[derive(Debug)]
pub struct PacedClock<P> {
    now: Timestamp,
    pacer: P,
}

impl<P: Pacer> PacedClock<P> {
    /// A paced clock at `now`.
    pub const fn new(now: Timestamp, pacer: P) -> Self {
        Self { now, pacer }
    }

    /// The pacer (for tests to inspect).
    pub const fn pacer(&self) -> &P {
        &self.pacer
    }
}

impl<P: Pacer> Clock for PacedClock<P> {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn advance_to(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.pacer.wait(ts.as_nanos() - self.now.as_nanos());
            self.now = ts;
        }
    }
}
