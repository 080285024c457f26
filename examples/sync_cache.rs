//! A read-through cache in front of a slow backend, with gort::sync:
//! `Map` holds the cached values, `SingleFlight` makes concurrent misses
//! for one key fetch it once (no thundering herd), a `Semaphore` bounds the
//! backend's concurrency, and an `ErrGroup` runs the clients and reports
//! the first failure.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gort::sync::{ErrGroup, Map, Semaphore, SingleFlight};

struct Cache {
    values: Map<u32, Arc<String>>,
    flights: SingleFlight<u32, Result<Arc<String>, String>>,
    backend_slots: Semaphore,
    fetches: AtomicUsize,
}

impl Cache {
    fn get(&self, key: u32) -> Result<Arc<String>, String> {
        if let Some(v) = self.values.load(&key) {
            return Ok(v);
        }
        let (v, _shared) = self.flights.call(key, || {
            self.backend_slots.acquire(1);
            let v = self.fetch(key);
            self.backend_slots.release(1);
            if let Ok(v) = &v {
                self.values.store(key, v.clone());
            }
            v
        });
        v
    }

    /// The slow backend: 20 ms per fetch; key 13 is missing.
    fn fetch(&self, key: u32) -> Result<Arc<String>, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        gort::sleep(Duration::from_millis(20));
        if key == 13 { Err(format!("key {key}: not found")) } else { Ok(Arc::new(format!("value-{key}"))) }
    }
}

#[gort::main]
fn main() {
    let cache = Arc::new(Cache {
        values: Map::new(),
        flights: SingleFlight::new(),
        backend_slots: Semaphore::new(4),
        fetches: AtomicUsize::new(0),
    });
    let clients: ErrGroup<String> = ErrGroup::new();
    let start = std::time::Instant::now();
    // 100 clients ask for 10 hot keys, twice each.
    for c in 0..100u32 {
        let cache = cache.clone();
        clients.go(move || {
            for round in 0..2 {
                let key = (c + round) % 10;
                let v = cache.get(key)?;
                assert_eq!(*v, format!("value-{key}"));
            }
            Ok(())
        });
    }
    clients.wait().expect("every hot key exists");
    println!(
        "200 lookups of 10 keys: {} backend fetches, {:?}",
        cache.fetches.load(Ordering::Relaxed),
        start.elapsed()
    );
    // A failing fetch reaches every caller that shared it, and is not cached.
    let misses: ErrGroup<String> = ErrGroup::new();
    for _ in 0..5 {
        let cache = cache.clone();
        misses.go(move || cache.get(13).map(|_| ()));
    }
    println!("key 13: {}", misses.wait().unwrap_err());
}
