//! The side-by-side comparison program (filled in below).
fn main() {}
