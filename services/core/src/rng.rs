//! A tiny deterministic generator (xorshift64): the same seed gives the same numbers, so a
//! load, a nemesis or a jitter is a function of its seed. Not for secrets.

/// Xorshift64 over a non-zero state.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Starts at `seed` (0 is taken as 1: the state must not be zero).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A fraction in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
