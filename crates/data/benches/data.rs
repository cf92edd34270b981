//! Data benches.
#![allow(missing_docs)]
fn main() {}
