//! Simple moving average (TA-Lib `SMA`): a running sum, added to before and subtracted from
//! after each value, as TA-Lib does it.

use crate::window::Window;
use crate::{Candle, Indicator, Inputs, Output};

/// The running-sum SMA kernel, shared by the indicators built on it.
#[derive(Debug, Clone)]
pub(crate) struct SmaKernel {
    period: usize,
    /// The period as the divisor, converted once.
    divisor: f64,
    window: Window,
    total: f64,
}

impl SmaKernel {
    pub(crate) fn new(period: usize) -> Self {
        #[allow(clippy::cast_precision_loss)]
        Self {
            period,
            divisor: period as f64,
            window: Window::new(period),
            total: 0.0,
        }
    }

    #[inline]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        let oldest = self.window.push_then_oldest(x);
        self.total += x;
        let oldest = oldest?;
        let snapshot = self.total;
        self.total -= oldest;
        Some(snapshot / self.divisor)
    }
}

/// Simple moving average of the close over `period` bars.
#[derive(Debug, Clone)]
pub struct Sma(SmaKernel);

impl Sma {
    /// An SMA over `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self(SmaKernel::new(period))
    }
}

impl Indicator for Sma {
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        self.0.update(c.close).map(Output::one)
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.0.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["sma"]
    }
}
