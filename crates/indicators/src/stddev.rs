//! Rolling population standard deviation (TA-Lib `STDDEV`, one deviation).
//!
//! `mean(x²) − mean(x)²` in floating point loses most of its digits to cancellation: prices
//! near 130 with a deviation of 0.05 leave about seven good digits. So the sums are kept
//! exactly instead, as integers of the prices' fixed-point units (10^-9, recovered from the
//! `f64` by rounding, which is exact for prices below 4.5 million), and the variance
//! `(n·Σx² − (Σx)²) / n²` is computed exactly and rounded once. The result is the exact
//! deviation to about 1e-15, which puts it within TA-Lib 0.8's own error (about 6e-10 relative
//! on SPY minutes). Like TA-Lib, a variance below 1e-8 gives 0. Should the integer sums ever
//! overflow (extreme prices over very long periods), the update falls back to floating-point
//! running sums.

use crate::window::Window;
use crate::{Candle, Indicator, Inputs, Output, is_zero_or_neg};

/// Fixed-point units per whole unit, as in the model.
const UNITS: f64 = 1e9;

/// Standard deviation of the close over `period` bars.
#[derive(Debug, Clone)]
pub struct StdDev {
    period: usize,
    window: Window,
    /// Exact sums of units and squared units; `None` after an overflow.
    exact: Option<(i128, i128)>,
    sum: f64,
    squares: f64,
}

#[allow(clippy::cast_possible_truncation)]
fn units(x: f64) -> i128 {
    (x * UNITS).round() as i128
}

impl StdDev {
    /// A standard deviation over `period` bars.
    #[must_use]
    pub fn new(period: usize) -> Self {
        Self {
            period,
            window: Window::new(period),
            exact: Some((0, 0)),
            sum: 0.0,
            squares: 0.0,
        }
    }

    fn add_exact(exact: Option<(i128, i128)>, x: f64, sign: i128) -> Option<(i128, i128)> {
        let (s1, s2) = exact?;
        let u = units(x);
        let sq = u.checked_mul(u)?;
        Some((
            s1.checked_add(sign * u)?,
            s2.checked_add(sign.checked_mul(sq)?)?,
        ))
    }
}

impl Indicator for StdDev {
    #[allow(clippy::cast_precision_loss)]
    #[inline]
    fn update(&mut self, c: &Candle) -> Option<Output> {
        let x = c.close;
        self.window.push(x);
        self.sum += x;
        self.squares += x * x;
        self.exact = Self::add_exact(self.exact, x, 1);
        if !self.window.is_full() {
            return None;
        }
        let n = self.period as f64;
        let exact_variance = self.exact.and_then(|(s1, s2)| {
            let n_i = i128::try_from(self.period).ok()?;
            let numerator = n_i.checked_mul(s2)?.checked_sub(s1.checked_mul(s1)?)?;
            Some(numerator as f64 / (n * n) / (UNITS * UNITS))
        });
        let variance = exact_variance.unwrap_or_else(|| {
            let mean = self.sum / n;
            self.squares / n - mean * mean
        });
        let trailing = self.window.oldest();
        self.sum -= trailing;
        self.squares -= trailing * trailing;
        self.exact = Self::add_exact(self.exact, trailing, -1);
        Some(Output::one(if is_zero_or_neg(variance) {
            0.0
        } else {
            variance.sqrt()
        }))
    }

    fn inputs(&self) -> Inputs {
        Inputs::CLOSE
    }

    fn warmup(&self) -> usize {
        self.period
    }

    fn output_names(&self) -> &'static [&'static str] {
        &["stddev"]
    }
}
