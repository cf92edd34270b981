//! Rate of change (TA-Lib `ROC`): `(close / close[period bars ago] − 1) × 100`, zero when the
//! old close is zero.

use crate::window::Window;
use crate::{Candle, Indicator, Inputs, Output};

/// Percentage change over `period` bars.
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    window: Window,
}

impl Roc {
    /// A ROC over `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            period,
            window: Window::new(period + 1),
        }
    }
}

impl Indicator for Roc {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        self.window.push(c.close);
        if !self.window.is_full() {
            return None;
        }
        let old = self.window.oldest();
        Some(Output::one(if old == 0.0 {
            0.0
        } else {
            ((c.close / old) - 1.0) * 100.0
        }))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period + 1
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["roc"]
    }
}
