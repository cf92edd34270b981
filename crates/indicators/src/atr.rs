//! Average true range with Wilder's smoothing (TA-Lib `ATR`). The true range needs the previous
//! close, so the first is on the second bar; the first ATR is the mean of `period` true ranges,
//! then `atr = (atr × (period − 1) + tr) / period`.

use crate::{Candle, Indicator, Inputs, Output};

/// Wilder's ATR.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    ranges: usize,
    sum: f64,
    atr: f64,
}

impl Atr {
    /// An ATR over `period` true ranges.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            period,
            prev_close: None,
            ranges: 0,
            sum: 0.0,
            atr: 0.0,
        }
    }
}

/// TA-Lib's true range: the greatest of high − low, |prev close − high| and |prev close − low|.
pub(crate) fn true_range(prev_close: f64, high: f64, low: f64) -> f64 {
    let mut greatest = high - low;
    let up = (prev_close - high).abs();
    if up > greatest {
        greatest = up;
    }
    let down = (prev_close - low).abs();
    if down > greatest {
        greatest = down;
    }
    greatest
}

impl Indicator for Atr {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let prev = self.prev_close.replace(c.close)?;
        let tr = true_range(prev, c.high, c.low);
        if self.period == 1 {
            return Some(Output::one(tr));
        }
        self.ranges += 1;
        let n = self.period as f64;
        if self.ranges < self.period {
            self.sum += tr;
            return None;
        }
        if self.ranges == self.period {
            self.sum += tr;
            self.atr = self.sum / n;
        } else {
            self.atr *= n - 1.0;
            self.atr += tr;
            self.atr /= n;
        }
        Some(Output::one(self.atr))
    }

    fn inputs(&self) -> Inputs {
        Inputs::HIGH | Inputs::LOW | Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period + 1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["atr"]
    }
}
