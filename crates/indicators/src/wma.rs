//! Weighted moving average (TA-Lib `WMA`): weights 1..=period, newest heaviest, kept with
//! TA-Lib's two running sums so each update is O(1).

use crate::window::Window;
use crate::{Candle, Indicator, Inputs, Output};

/// Weighted moving average of the close.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    window: Window,
    seen: usize,
    sum: f64,
    sub: f64,
    trailing: f64,
}

impl Wma {
    /// A WMA over `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            period,
            window: Window::new(period),
            seen: 0,
            sum: 0.0,
            sub: 0.0,
            trailing: 0.0,
        }
    }
}

impl Indicator for Wma {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let x = c.close;
        self.window.push(x);
        self.seen += 1;
        if self.seen < self.period {
            self.sub += x;
            self.sum += x * self.seen as f64;
            return None;
        }
        let divider = (self.period * (self.period + 1) / 2) as f64;
        self.sub += x;
        self.sub -= self.trailing;
        self.sum += x * self.period as f64;
        self.trailing = self.window.oldest();
        let out = self.sum / divider;
        self.sum -= self.sub;
        Some(Output::one(out))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["wma"]
    }
}
