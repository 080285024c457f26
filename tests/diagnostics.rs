//! Diagnostics with the real primitives: the dump's wait reason for each,
//! and the leak check on the seeds' leak scenarios (S17: Rob Pike's
//! `First()` and its three fixes; S05: the forgotten sender).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::debug::GoroutineInfo;
use gort::runtime::WaitReason;
use gort::testing::LeakCheck;

fn runtime() -> gort::Runtime {
    gort::Runtime::builder().max_procs(2).build().unwrap()
}

/// Waits until goroutine `id` is parked, and returns what the dump says.
fn parked(id: u64) -> GoroutineInfo {
    let t = Instant::now();
    loop {
        if let Some(g) = gort::debug::goroutines().into_iter().find(|g| g.id == id)
            && g.wait_reason.is_some()
        {
            return g;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "goroutine {id} never parked");
        gort::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dump_shows_each_primitives_wait_reason() {
    let rt = runtime();
    rt.block_on(|| {
        let mut expect: Vec<(u64, WaitReason)> = Vec::new();
        let release = gort::chan::<()>(0);

        let (rch, sch) = (gort::chan::<u32>(0), gort::chan::<u32>(0));
        let c = rch.clone();
        expect.push((gort::go!(move || c.recv()).id(), WaitReason::ChanReceive));
        let c = sch.clone();
        expect.push((gort::go!(move || c.send(1)).id(), WaitReason::ChanSend));

        let (a, b) = (gort::chan::<u8>(0), gort::chan::<u8>(0));
        let (a2, b2) = (a.clone(), b.clone());
        expect.push((
            gort::go!(move || {
                gort::select! {
                    recv(a2) -> _ => {},
                    recv(b2) -> _ => {},
                }
            })
            .id(),
            WaitReason::Select,
        ));

        let m = Arc::new(gort::sync::Mutex::new(0));
        let guard = m.lock();
        let m2 = m.clone();
        expect.push((gort::go!(move || *m2.lock() += 1).id(), WaitReason::SyncMutexLock));

        let rw = Arc::new(gort::sync::RwLock::new(0));
        let wguard = rw.write();
        let (r1, r2) = (rw.clone(), rw.clone());
        expect.push((gort::go!(move || *r1.read()).id(), WaitReason::SyncRWMutexRLock));
        let wg = Arc::new(gort::sync::WaitGroup::new());
        wg.add(1);
        let wg2 = wg.clone();
        expect.push((gort::go!(move || wg2.wait()).id(), WaitReason::SyncWaitGroupWait));

        let cond = Arc::new((gort::sync::Mutex::new(false), gort::sync::Cond::new()));
        let c2 = cond.clone();
        expect.push((
            gort::go!(move || {
                let mut g = c2.0.lock();
                while !*g {
                    g = c2.1.wait(g);
                }
            })
            .id(),
            WaitReason::SyncCondWait,
        ));

        let sem = Arc::new(gort::sync::Semaphore::new(1));
        sem.acquire(1);
        let s2 = sem.clone();
        expect.push((gort::go!(move || s2.acquire(1)).id(), WaitReason::Semacquire));

        expect.push((gort::go!(|| gort::sleep(Duration::from_secs(10))).id(), WaitReason::Sleep));

        let rel = release.clone();
        let inner = gort::go!(move || rel.recv());
        let inner_id = inner.id();
        expect.push((gort::go!(move || inner.join()).id(), WaitReason::JoinWait));
        expect.push((inner_id, WaitReason::ChanReceive));

        let ln = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let client = gort::net::TcpStream::connect(addr).unwrap();
        let (server, _) = ln.accept().unwrap();
        expect.push((
            gort::go!(move || {
                let mut buf = [0u8; 8];
                std::io::Read::read(&mut &server, &mut buf)
            })
            .id(),
            WaitReason::IoWait,
        ));

        for (id, reason) in &expect {
            let g = parked(*id);
            assert_eq!(g.wait_reason, Some(*reason), "goroutine {id}: {g}");
            assert_eq!(g.state, reason.as_str());
            assert!(g.to_string().contains(&format!("goroutine {id} [{}]:", reason.as_str())));
            assert!(g.spawn_site.unwrap().file().ends_with("tests/diagnostics.rs"));
        }

        // The writer waiting behind readers shows as RWMutex.Lock.
        drop(wguard);
        let rg = rw.read();
        let w = gort::go!(move || *r2.write() += 1);
        assert_eq!(parked(w.id()).wait_reason, Some(WaitReason::SyncRWMutexLock));
        drop(rg);

        // Let everything go.
        drop(guard);
        sch.recv();
        rch.send(2).unwrap();
        a.send(1).unwrap();
        wg.done();
        *cond.0.lock() = true;
        cond.1.broadcast();
        sem.release(1);
        release.close();
        drop(b);
        std::io::Write::write_all(&mut &client, b"x").unwrap();
    });
}

// S17: Rob Pike's First(). Replica 10 is the fast one: it answers at once,
// and the slower ones answer only once `release` is closed, after the
// caller has its result, so the fastest wins on any machine (sleeps of
// 10, 20 and 30 ms let a slower one win next to a CPU hog).
fn replica(v: u64, release: &gort::Chan<()>) -> impl Fn() -> u64 + Send + 'static {
    let release = release.clone();
    move || {
        if v != 10 {
            let _ = release.recv();
        }
        v
    }
}

/// The three replicas a `first` function queries.
type Replicas = [Box<dyn Fn() -> u64 + Send>; 3];

/// Queries the three replicas through `first` and releases the slow ones
/// once it has answered.
fn with_replicas(first: fn(Replicas) -> u64) -> u64 {
    let release = gort::chan::<()>(0);
    let v = first([
        Box::new(replica(10, &release)),
        Box::new(replica(20, &release)),
        Box::new(replica(30, &release)),
    ]);
    release.close();
    v
}

fn first_buggy(replicas: Replicas) -> u64 {
    let c = gort::chan::<u64>(0);
    for r in replicas {
        let c = c.clone();
        gort::go!(move || c.send(r()).unwrap());
    }
    c.recv().unwrap()
}

fn first_fix_a(replicas: Replicas) -> u64 {
    let c = gort::chan::<u64>(3);
    for r in replicas {
        let c = c.clone();
        gort::go!(move || c.send(r()).unwrap());
    }
    c.recv().unwrap()
}

fn first_fix_b(replicas: Replicas) -> u64 {
    let c = gort::chan::<u64>(1);
    for r in replicas {
        let c = c.clone();
        gort::go!(move || {
            gort::select! {
                send(c, r()) -> _ => {},
                default => {},
            }
        });
    }
    c.recv().unwrap()
}

fn first_fix_c(replicas: Replicas) -> u64 {
    let c = gort::chan::<u64>(0);
    let done = gort::chan::<()>(0);
    for r in replicas {
        let (c, done) = (c.clone(), done.clone());
        gort::go!(move || {
            gort::select! {
                send(c, r()) -> _ => {},
                recv(done) -> _ => {},
            }
        });
    }
    let v = c.recv().unwrap();
    done.close();
    v
}

#[test]
fn first_with_an_unbuffered_channel_leaks_the_losers() {
    let rt = runtime();
    rt.block_on(|| {
        let check = LeakCheck::new().timeout(Duration::from_millis(100));
        assert_eq!(with_replicas(first_buggy), 10);
        // The two slow replicas answer after the release and then block in
        // their send forever: wait until both have.
        let in_send = || {
            gort::debug::goroutines().iter().filter(|g| g.wait_reason == Some(WaitReason::ChanSend)).count()
        };
        while in_send() < 2 {
            gort::sleep(Duration::from_millis(1));
        }
        let leaks = check.check().unwrap_err();
        assert_eq!(leaks.0.len(), 2, "{leaks}");
        for g in &leaks.0 {
            assert_eq!(g.wait_reason, Some(WaitReason::ChanSend));
            let site = g.spawn_site.unwrap();
            assert!(site.file().ends_with("tests/diagnostics.rs"), "{site}");
        }
        let text = leaks.to_string();
        assert!(text.contains("found 2 unexpected goroutine(s)") && text.contains("[chan send]"), "{text}");
    });
}

#[test]
fn first_fixes_leak_nothing() {
    let rt = runtime();
    rt.block_on(|| {
        type First = fn(Replicas) -> u64;
        for f in [first_fix_a as First, first_fix_b, first_fix_c] {
            let check = LeakCheck::new();
            for _ in 0..20 {
                assert_eq!(with_replicas(f), 10);
            }
            check.assert();
        }
    });
}

// S05: the forgotten sender. `search` takes 200 ms; the caller gives up
// after 100 ms.
fn search_with_timeout(buffered: bool) -> Result<&'static str, &'static str> {
    let ch = gort::chan::<&'static str>(usize::from(buffered));
    let tx = ch.clone();
    gort::go!(move || {
        gort::sleep(Duration::from_millis(200));
        tx.send("some value").unwrap();
    });
    gort::select! {
        recv(ch) -> v => Ok(v.unwrap()),
        recv(gort::after(Duration::from_millis(100))) -> _ => Err("search canceled"),
    }
}

#[test]
fn forgotten_sender_leaks_with_an_unbuffered_channel() {
    let rt = runtime();
    rt.block_on(|| {
        let check = LeakCheck::new().timeout(Duration::from_millis(300));
        assert_eq!(search_with_timeout(false), Err("search canceled"));
        let leaks = check.check().unwrap_err();
        assert_eq!(leaks.0.len(), 1, "{leaks}");
        assert_eq!(leaks.0[0].wait_reason, Some(WaitReason::ChanSend));

        let check = LeakCheck::new();
        assert_eq!(search_with_timeout(true), Err("search canceled"));
        check.assert(); // the sender completes into the buffer at ~200 ms
    });
}
