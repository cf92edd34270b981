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

    /// Adds `v`; once the window is full, returns the oldest value it then holds (the next to
    /// be pushed out), as [`Window::oldest`] would.
    #[inline]
    pub(crate) fn push_then_oldest(&mut self, v: f64) -> Option<f64> {
        let cap = self.buf.len();
        let head = self.head;
        if let Some(slot) = self.buf.get_mut(head) {
            *slot = v;
        }
        let next = if head + 1 == cap { 0 } else { head + 1 };
        self.head = next;
        if self.len < cap {
            self.len += 1;
            if self.len < cap {
                return None;
            }
        }
        // Full: the values run from `next` round to `head`.
        self.buf.get(next).copied()
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Window;

    proptest! {
        /// Pushing and then reading the oldest value in one step agrees with the two steps.
        #[test]
        fn push_then_oldest_is_push_then_oldest(
            n in 1usize..12,
            values in proptest::collection::vec(-1e6f64..1e6, 0..60),
        ) {
            let (mut one, mut two) = (Window::new(n), Window::new(n));
            for v in values {
                let got = one.push_then_oldest(v);
                two.push(v);
                let want = two.is_full().then(|| two.oldest());
                prop_assert_eq!(got, want);
            }
        }
    }
}
