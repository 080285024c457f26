//! Helpers shared by the channel integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A value that counts its drops.
pub struct D(pub Arc<AtomicUsize>);

impl Drop for D {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[allow(dead_code)] // not every test file uses it
/// A drop counter and a maker of values that bump it when dropped.
pub fn counter() -> (Arc<AtomicUsize>, impl Fn() -> D) {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    (n, move || D(n2.clone()))
}
