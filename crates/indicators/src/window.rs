//! A fixed-size ring of the last `n` values.

#[derive(Debug, Clone)]
pub(crate) struct Window {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Window {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            buf: vec![0.0; n.max(1)],
            head: 0,
            len: 0,
        }
    }

    /// Adds `v`; returns the value it pushed out when the window was full.
    #[inline]
    pub(crate) fn push(&mut self, v: f64) -> Option<f64> {
        let cap = self.buf.len();
        let evicted = (self.len == cap).then(|| self.buf[self.head]);
        self.buf[self.head] = v;
        // A compare instead of a remainder: no division on the hot path.
        self.head = if self.head + 1 == cap {
            0
        } else {
            self.head + 1
        };
        self.len = (self.len + 1).min(cap);
        evicted
    }

    #[inline]
    pub(crate) const fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// The oldest value held (the next to be pushed out).
    #[inline]
    pub(crate) fn oldest(&self) -> f64 {
        if self.len < self.buf.len() {
            self.buf[0]
        } else {
            self.buf[self.head]
        }
    }
}
