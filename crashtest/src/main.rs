//! Programs that must die, or must not, in ways only a whole process shows:
//! the deadlock report, SIGQUIT, panics while panicking. `gort-crashtest <scenario>`; this crate's
//! tests run each one and check its exit status and output.
//!
//! These cannot run inside the test harness: its own threads are unknown
//! to gort, and the deadlock detector rightly stays silent while any thread
//! it knows nothing about could still act.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::runtime::{GRef, Lock, WaitReason, park, ready};

/// A one-value rendezvous on park/ready (so these scenarios need nothing
/// but the runtime).
struct Slot {
    inner: Lock<(Option<u64>, Option<GRef>)>,
}

impl Slot {
    fn new() -> Slot {
        Slot { inner: Lock::new((None, None)) }
    }

    fn take(&self) -> u64 {
        loop {
            let mut s = self.inner.lock();
            if let Some(v) = s.0.take() {
                return v;
            }
            s.1 = Some(gort::runtime::current_g());
            let raw = s.leak();
            park(WaitReason::ChanReceive, |_| {
                // SAFETY: we hold the lock (leaked guard).
                unsafe { raw.unlock() };
                true
            });
        }
    }

    fn put(&self, v: u64) {
        let w = {
            let mut s = self.inner.lock();
            s.0 = Some(v);
            s.1.take()
        };
        if let Some(w) = w {
            // SAFETY: the taker queued itself under the lock and parked.
            unsafe { ready(w) };
        }
    }
}

/// A server whose goroutines block in five different primitives, for the
/// SIGQUIT traceback test: each blocking call is on a line marked
/// `// blocks:` followed by the function's name, which the test looks up.
mod server {
    use std::sync::Arc;
    use std::time::Duration;

    #[inline(never)]
    fn accept_loop(ln: gort::net::TcpListener) {
        loop {
            let _ = ln.accept(); // blocks: accept_loop
        }
    }

    #[inline(never)]
    fn request_worker(jobs: gort::Chan<u64>) {
        loop {
            let Some(j) = jobs.recv() else { return }; // blocks: request_worker
            std::hint::black_box(j);
        }
    }

    #[inline(never)]
    fn result_sender(results: gort::Chan<u64>) {
        for i in 0.. {
            results.send(i).unwrap(); // blocks: result_sender
        }
    }

    #[inline(never)]
    fn cache_updater(cache: Arc<gort::sync::Mutex<u64>>) {
        *cache.lock() += 1; // blocks: cache_updater
    }

    #[inline(never)]
    fn shutdown_waiter(wg: Arc<gort::sync::WaitGroup>) {
        wg.wait(); // blocks: shutdown_waiter
    }

    #[inline(never)]
    fn janitor() {
        loop {
            gort::sleep(Duration::from_secs(3600)); // blocks: janitor
        }
    }

    /// Starts the goroutines, waits until all are parked, says `ready` on
    /// stdout (or stops for a debugger, with `trap`) and waits for the signal.
    pub(crate) fn run(trap: bool) {
        let ln = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (jobs, results) = (gort::chan::<u64>(0), gort::chan::<u64>(1));
        let cache = Arc::new(gort::sync::Mutex::new(0));
        let held = cache.lock();
        let wg = Arc::new(gort::sync::WaitGroup::new());
        wg.add(1);
        let hs = vec![
            gort::go!(accept_loop(ln)),
            gort::go!(request_worker(jobs.clone())),
            gort::go!(result_sender(results.clone())),
            gort::go!(cache_updater(cache.clone())),
            gort::go!(shutdown_waiter(wg.clone())),
            gort::go!(janitor()),
        ];
        let t = std::time::Instant::now();
        while gort::debug::goroutines().iter().filter(|g| g.wait_reason.is_some()).count() < hs.len() {
            assert!(t.elapsed() < Duration::from_secs(30), "the server's goroutines never all parked");
            gort::sleep(Duration::from_millis(5));
        }
        println!("ready");
        if trap {
            // SAFETY: raising a signal at ourselves; under gdb it stops
            // the process here.
            unsafe { libc::raise(libc::SIGTRAP) };
        }
        gort::sleep(Duration::from_secs(60));
        drop((held, jobs, results, wg, hs));
    }
}

#[inline(never)]
fn validate_order(qty: u32) -> u32 {
    if qty == 0 {
        panic!("order quantity must be positive"); // panics: validate_order
    }
    qty
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    match scenario.as_str() {
        "deadlock" => gort::run(|| {
            let slot = Arc::new(Slot::new());
            let s = slot.clone();
            let h = gort::Builder::new().name("stuck").spawn(move || s.take());
            gort::yield_now();
            h.join().unwrap(); // nobody will ever put into the slot
        }),
        "timer-is-no-deadlock" => gort::run(|| {
            let slot = Arc::new(Slot::new());
            let s = slot.clone();
            let h = gort::spawn(move || s.take());
            // Everything else is parked, but this sleep will end.
            gort::sleep(Duration::from_millis(300));
            slot.put(1);
            assert_eq!(h.join().unwrap(), 1);
        }),
        "plain-thread-is-no-deadlock" => {
            let slot = Arc::new(Slot::new());
            let s = slot.clone();
            let h = gort::spawn(move || s.take());
            // A thread gort knows nothing about, busy in std::thread::sleep.
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                slot.put(7);
            });
            assert_eq!(h.join().unwrap(), 7);
            t.join().unwrap();
        }
        "chan-deadlock" => gort::run(|| {
            // Go's classic: everyone waits on a channel nobody will use.
            let (a, b) = (gort::chan::<u32>(0), gort::chan::<u32>(0));
            let (a2, b2) = (a.clone(), b.clone());
            gort::Builder::new().name("ponger").spawn(move || b2.send(a2.recv().unwrap() + 1));
            let mut sel = gort::chan::<u8>(1);
            let sel2 = sel.clone();
            gort::go!(move || {
                gort::select! {
                    recv(sel2) -> _ => {},
                    recv(gort::chan::<u8>(0)) -> _ => {},
                }
            });
            sel = gort::chan::<u8>(0); // the selector's channel is now unreachable
            drop(sel);
            b.recv(); // never: nobody sends on a
        }),
        "socket-is-no-deadlock" => gort::run(|| {
            // Blocked on I/O with no timer armed: the network may still wake
            // us (the test connects after a pause).
            let ln = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
            println!("{}", ln.local_addr().unwrap().port());
            let h = gort::go!(move || ln.accept().map(|_| ()));
            h.join().unwrap().unwrap();
        }),
        "timed-wait-is-no-deadlock" => {
            // Every goroutine is done and only this plain thread waits, but
            // with a deadline: it wakes by itself, so no deadlock.
            gort::run(|| gort::go!(|| 1).join().unwrap());
            let ch = gort::chan::<u8>(0);
            let r = ch.recv_timeout(Duration::from_millis(300));
            assert!(r.is_err(), "nobody sends");
            let t = Instant::now();
            let sem = gort::sync::Semaphore::new(1);
            sem.acquire(1);
            assert!(!sem.acquire_timeout(1, Duration::from_millis(200)));
            assert!(t.elapsed() >= Duration::from_millis(200));
        }
        "sigquit" => gort::run(|| {
            let slot = Arc::new(Slot::new());
            let s = slot.clone();
            gort::spawn(move || s.take());
            gort::spawn(|| {
                // Let main reach its sleep first.
                gort::sleep(Duration::from_millis(50));
                // SAFETY: raising a signal at ourselves.
                unsafe { libc::raise(libc::SIGQUIT) };
            });
            gort::sleep(Duration::from_secs(10));
        }),
        "deadlock-after-sleep" => gort::run(|| {
            // The reproducer: main sleeps first, so sysmon never
            // sees the runtime go from busy to idle.
            let c = gort::chan::<i32>(0);
            let _keep = c.clone();
            gort::sleep(Duration::from_millis(20));
            c.recv();
        }),
        "chan-deadlock-after-sleep" => gort::run(|| {
            let c = gort::chan::<i32>(0);
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let c = c.clone();
                    gort::Builder::new().name("receiver").spawn(move || c.recv())
                })
                .collect();
            gort::sleep(Duration::from_millis(20));
            for h in hs {
                h.join().unwrap();
            }
        }),
        "mutex-deadlock-after-sleep" => gort::run(|| {
            // The holder waits for a channel nobody sends on; the other
            // goroutine waits for the lock.
            let m = Arc::new(gort::sync::Mutex::new(0));
            let never = gort::chan::<u8>(0);
            let (m2, never2) = (m.clone(), never.clone());
            let holder = gort::Builder::new().name("holder").spawn(move || {
                let _g = m2.lock();
                never2.recv();
            });
            gort::sleep(Duration::from_millis(5));
            let waiter = gort::Builder::new().name("waiter").spawn(move || *m.lock() += 1);
            gort::sleep(Duration::from_millis(20));
            waiter.join().unwrap();
            holder.join().unwrap();
        }),
        "rwlock-deadlock-after-sleep" => gort::run(|| {
            let l = Arc::new(gort::sync::RwLock::new(0));
            let never = gort::chan::<u8>(0);
            let (l2, never2) = (l.clone(), never.clone());
            let writer = gort::Builder::new().name("writer").spawn(move || {
                let _g = l2.write();
                never2.recv();
            });
            gort::sleep(Duration::from_millis(5));
            let reader = gort::Builder::new().name("reader").spawn(move || *l.read());
            gort::sleep(Duration::from_millis(20));
            reader.join().unwrap();
            writer.join().unwrap();
        }),
        "plain-main-deadlock" => {
            // No gort::run: the goroutines all finish, then the plain main
            // thread blocks forever on a channel nobody else can reach.
            let hs: Vec<_> = (0..10).map(|i| gort::go!(move || i * 2)).collect();
            for h in hs {
                h.join().unwrap();
            }
            let c = gort::chan::<u8>(0);
            let _keep = c.clone();
            gort::sleep(Duration::from_millis(20));
            c.recv();
        }
        "main-panics-dropping-handles" => gort::run(|| {
            // A worker fails, then main fails before joining it: unwinding
            // main drops the worker's handle (and others). Main's panic is
            // the one reported; the worker's gets a note.
            let worker = gort::Builder::new().name("worker").spawn(|| panic!("worker failed"));
            while !worker.is_finished() {
                gort::yield_now();
            }
            let _others: Vec<_> =
                (0..3).map(|_| gort::go!(|| gort::sleep(Duration::from_secs(10)))).collect();
            let _worker = worker;
            panic!("main failed");
        }),
        "handle-dropped-unwinding-then-panics" => gort::run(|| {
            // A goroutine panics while it holds the handle of one still
            // running; that one panics later, with nobody left to join it.
            let gate = gort::chan::<()>(0);
            let g2 = gate.clone();
            let holder = gort::go!(move || {
                let _late = gort::Builder::new().name("late").spawn(move || {
                    g2.recv();
                    panic!("late failure");
                });
                panic!("holder failed");
            });
            assert!(holder.join().is_err());
            gate.send(()).unwrap();
            gort::sleep(Duration::from_secs(10)); // the late panic ends the process first
        }),
        "stack-switches" => gort::run(|| {
            // Run under valgrind by the tests: goroutines on pooled stacks
            // (fresh and recycled), on a stack of their own, from
            // try_spawn, switching at every channel hand-off.
            let (ping, pong) = (gort::chan::<u32>(0), gort::chan::<u32>(0));
            let (ping2, pong2) = (ping.clone(), pong.clone());
            let echo = gort::go!(move || {
                for v in ping2.iter() {
                    pong2.send(v + 1).unwrap();
                }
            });
            for i in 0..200 {
                ping.send(i).unwrap();
                assert_eq!(pong.recv(), Some(i + 1));
            }
            ping.close();
            echo.join().unwrap();
            for round in 0..3u64 {
                let hs: Vec<_> = (0..20u64)
                    .map(|i| {
                        gort::go!(move || {
                            gort::yield_now();
                            i * round
                        })
                    })
                    .collect();
                assert_eq!(hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), 190 * round);
            }
            let own = gort::Builder::new().stack_size(1 << 20).spawn(|| {
                gort::sleep(Duration::from_millis(1));
                let buf = [1u8; 32 << 10];
                std::hint::black_box(&buf).iter().map(|&b| b as u32).sum::<u32>()
            });
            assert_eq!(own.join().unwrap(), 32 << 10);
            let tried = gort::Builder::new().try_spawn(gort::yield_now).unwrap();
            tried.join().unwrap();
            println!("ok");
        }),
        "sigquit-server" => gort::run(|| server::run(false)),
        // For the gdb test: stops itself (SIGTRAP) once the server's
        // goroutines are all parked.
        "gdb-server" => gort::run(|| server::run(true)),
        "unjoined-panic" => gort::run(|| {
            // Nobody joins: Go's unrecovered panic, with the stack.
            drop(gort::go!(validate_order(0)));
            gort::sleep(Duration::from_secs(30));
        }),
        // A goroutine of a synctest bubble durably blocked in Cond::wait,
        // signalled from outside the bubble: a fatal error, as in Go. A
        // second member waits on a channel from outside (not durable), so
        // the bubble is not idle and `test` is still waiting.
        "synctest-wake-from-outside" => gort::run(|| {
            let cond = Arc::new(gort::sync::Cond::new());
            let release = gort::chan::<()>(0);
            let c = cond.clone();
            gort::go!(move || {
                while !gort::debug::goroutines()
                    .iter()
                    .any(|g| g.state == "sync.Cond.Wait" && g.synctest_bubble != 0)
                {
                    gort::sleep(Duration::from_millis(1));
                }
                c.signal();
            });
            let r = release.clone();
            gort::testing::synctest::test(move || {
                gort::go!(move || r.recv());
                let m = gort::sync::Mutex::new(());
                let _g = cond.wait(m.lock());
            });
            release.close();
        }),
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(64);
        }
    }
}
