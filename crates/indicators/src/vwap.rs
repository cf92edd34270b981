//! Session VWAP: `Σ(typical price × volume) / Σ volume` since the session's first bar, with
//! typical price `(high + low + close) / 3`. It resets when [`Candle::session`] changes, so it
//! never carries one trading day into the next. No value until the session has traded volume.

use crate::{Candle, Indicator, Inputs, Output};

/// Volume-weighted average price of the current session.
#[derive(Debug, Clone, Default)]
pub struct SessionVwap {
    session: Option<i64>,
    price_volume: f64,
    volume: f64,
}

impl SessionVwap {
    /// A session VWAP.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for SessionVwap {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        if self.session != Some(c.session) {
            self.session = Some(c.session);
            self.price_volume = 0.0;
            self.volume = 0.0;
        }
        let typical = (c.high + c.low + c.close) / 3.0;
        self.price_volume += typical * c.volume;
        self.volume += c.volume;
        (self.volume > 0.0).then(|| Output::one(self.price_volume / self.volume))
    }

    fn inputs(&self) -> Inputs {
        Inputs::HIGH | Inputs::LOW | Inputs::CLOSE | Inputs::VOLUME
    }

    fn warmup(&self) -> usize {
        1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["vwap"]
    }
}
