//! gort-channels: Go's channels and `select` for gort.
//!
//! Will hold `chan::<T>(cap)` (Go's `make(chan T, cap)`: hchan with direct
//! hand-off between sender and receiver), directional views, close and
//! range, `select!` with Go's random choice among ready cases and a dynamic
//! `Select`, and the timer channels `after`, `tick`, `Timer`, `Ticker`.
//! Built only on `gort-runtime`'s park/ready.
