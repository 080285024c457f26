//! gort-sync: Go's `sync` and `context` for gort.
//!
//! Will hold goroutine-aware `Mutex`, `RwLock`, `WaitGroup`, `Once`, `Cond`,
//! `Pool`, `Map`, `Semaphore`, `SingleFlight`, `ErrGroup`, `Barrier`, and
//! the `context` module. Built on `gort-runtime`'s park/ready and
//! semaphores, and on `gort-channels` for context's done channel.
