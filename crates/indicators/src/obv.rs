//! On-balance volume (TA-Lib `OBV`): starts at the first bar's volume, then adds the volume of
//! up-closes and subtracts that of down-closes.

use crate::{Candle, Indicator, Inputs, Output};

/// On-balance volume.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    prev_close: Option<f64>,
    obv: f64,
}

impl Obv {
    /// An OBV.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for Obv {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        match self.prev_close {
            None => self.obv = c.volume,
            Some(prev) if c.close > prev => self.obv += c.volume,
            Some(prev) if c.close < prev => self.obv -= c.volume,
            Some(_) => {}
        }
        self.prev_close = Some(c.close);
        Some(Output::one(self.obv))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE | Inputs::VOLUME
    }

    fn warmup(&self) -> usize {
        1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["obv"]
    }
}
