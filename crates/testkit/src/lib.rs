//! Helpers shared by the workspace's integration tests (used only as a dev-dependency).
//!
//! - [`backend`]: a backend by name, or a panic saying CI must provide it.
//! - [`run`]: a binary's output, with optional standard input.
//! - [`text`]: stdout then stderr, as one string to search.
//! - [`assert_refused`], [`help_without`]: a flag is accepted only where it acts.
//! - [`can_run`], [`runnable`]: skip (with a notice) or, in CI, require the wgpu/vulkan backends
//!   (and, in CI's `--features ndarray` phase, the ndarray backend).
//! - [`run_elsewhere`]: a copy of a binary run outside the checkout, as an installed one runs.
//! - [`succeeds`], [`export_file`]: a command that must succeed; an `export` command's file.
//! - [`python_with`]: skip (with a notice) or, in CI, require a Python with given modules.
//! - [`workspace_bin`], [`ServeProcess`], [`free_port`]: another package's binary; a `gradlab-serve`
//!   for a test (feature `remote`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gradlab::{BackendConfig, BackendName, ResolvedBackend};

/// Resolve `name` with the default adapter, or panic (tests that need wgpu/vulkan ask
/// [`can_run`] first; CI installs lavapipe for them).
pub fn backend(name: BackendName) -> ResolvedBackend {
    gradlab::backend::resolve(&BackendConfig {
        backend: name,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("backend {name} must be usable here (CI installs lavapipe): {e}"))
}

/// Run the binary `exe` (a test's `env!("CARGO_BIN_EXE_…")`) with `args` in `cwd`, feeding it
/// `stdin` (an empty, closed standard input when `None`), and collect its output.
pub fn run(exe: &str, args: &[&str], cwd: &Path, stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // Written from another thread, so a child that prints before reading cannot deadlock.
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {exe}: {e}"));
    // A child that exits without reading all its input closes the pipe; that is its business.
    writer.join().expect("stdin writer thread").ok();
    out
}

/// stdout followed by stderr, lossily decoded.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Assert that `exe` refuses each of `cases` (argument lists) as a usage error: exit code 2
/// and no panic.
pub fn assert_refused(exe: &str, cases: &[&[&str]], cwd: &Path) {
    for args in cases {
        let o = run(exe, args, cwd, None);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?} should be refused:\n{t}");
        assert!(!t.contains("panicked"), "{args:?} panicked:\n{t}");
    }
}

/// The `--help` text of `exe`'s `subcommand`, asserted to list none of `absent`.
pub fn help_without(exe: &str, subcommand: &str, absent: &[&str], cwd: &Path) -> String {
    let help = text(&run(exe, &[subcommand, "--help"], cwd, None));
    for flag in absent {
        assert!(!help.contains(flag), "`{subcommand} --help` lists {flag}:\n{help}");
    }
    help
}

/// Set (to anything) where the GPU-API backends must be testable: CI sets it, so a missing
/// Vulkan driver fails the tests there instead of skipping them.
pub const REQUIRE_GPU_BACKENDS: &str = "GRADLAB_REQUIRE_GPU_BACKENDS";

/// Set (to anything) where the opt-in ndarray backend must be built: CI's `--features ndarray`
/// phase sets it, so a build that lost the feature fails there instead of skipping its tests.
pub const REQUIRE_NDARRAY: &str = "GRADLAB_REQUIRE_NDARRAY";

/// Set (to anything) where every crate of Cargo.lock must be downloaded: CI runs `cargo fetch`
/// first and sets it, so the architecture tests that compare `cargo tree` of the opt-in builds
/// fail there instead of skipping (a fresh machine's default build downloads only its own crates).
pub const REQUIRE_FETCHED: &str = "GRADLAB_REQUIRE_FETCHED";

/// Whether backend `name` can run here. A backend this build lacks (the opt-in `ndarray`,
/// `remote`, `spirv` features) cannot: the test is skipped with a one-line notice saying which
/// command runs it ([`REQUIRE_NDARRAY`] makes a missing ndarray a failure). The CPU backends
/// built in always can. `wgpu` and `vulkan` need a
/// Vulkan (or, for `wgpu`, GL) driver: where there is none, a test that needs one is skipped
/// with a one-line notice on the terminal naming the apt command — unless
/// [`REQUIRE_GPU_BACKENDS`] is set, where the missing driver fails the test. `what` names the
/// skipped test in the notice.
pub fn can_run(name: BackendName, what: &str) -> bool {
    if !name.is_built() {
        let how = format!("`cargo test --release --workspace --features {name}` runs it");
        if name == BackendName::Ndarray {
            skip_unless_required(
                REQUIRE_NDARRAY,
                format!("backend ndarray must be built here ({REQUIRE_NDARRAY} is set): {how}"),
                format!("{what} on ndarray: this build has no ndarray backend; {how}"),
            );
        } else {
            let notice = format!("note: skipped {what} on {name}: this build has no {name} backend; {how}\n");
            std::io::stderr().write_all(notice.as_bytes()).ok();
        }
        return false;
    }
    if !name.is_wgpu() {
        return true;
    }
    let found = gradlab::backend::resolve(&BackendConfig {
        backend: name,
        ..Default::default()
    });
    match found {
        Ok(_) => true,
        Err(e) => {
            skip_unless_required(
                REQUIRE_GPU_BACKENDS,
                format!("backend {name} must be usable here ({REQUIRE_GPU_BACKENDS} is set): {e}"),
                format!(
                    "{what} on {name}: no usable adapter — install a Vulkan driver to run it \
                     (apt-get install libvulkan1 mesa-vulkan-drivers)"
                ),
            );
            false
        }
    }
}

/// A test's prerequisite is missing: panic with `failure` where the environment variable
/// `require` is set (CI), else print `note: skipped {skipped}; {require}=1 makes this a failure`
/// and return, for the caller to skip the test.
pub fn skip_unless_required(require: &str, failure: String, skipped: String) {
    if std::env::var_os(require).is_some() {
        panic!("{failure}");
    }
    // Straight to the terminal: libtest captures `eprintln!` of passing tests.
    let notice = format!("note: skipped {skipped}; {require}=1 makes this a failure\n");
    std::io::stderr().write_all(notice.as_bytes()).ok();
}

/// The names among `names` (`"flex"`, `"wgpu"`, …; `"auto"` always) whose backend can run here
/// ([`can_run`]).
pub fn runnable<'a>(names: &[&'a str], what: &str) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| match n.parse::<BackendName>() {
            Ok(b) if b != BackendName::Auto => can_run(b, what),
            _ => true,
        })
        .collect()
}

/// Run a copy of the binary `exe` as a user who copied or installed it would: the copy in a
/// fresh folder outside any checkout, run from that folder, with no `GRADLAB_DATA` and a
/// private home and cache folder. Returns the output and the folder (kept alive by the caller).
pub fn run_elsewhere(exe: &str, args: &[&str]) -> (Output, tempfile::TempDir) {
    let (copy, dir) = copy_elsewhere(exe);
    (run_copy(&copy, args, dir.path()), dir)
}

/// A copy of the binary `exe` in `<fresh folder>/bin/`, and that folder.
pub fn copy_elsewhere(exe: &str) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let name = Path::new(exe).file_name().expect("a binary name");
    let copy = dir.path().join("bin").join(name);
    std::fs::create_dir_all(copy.parent().expect("bin/")).expect("bin/");
    std::fs::copy(exe, &copy).unwrap_or_else(|e| panic!("copying {exe}: {e}"));
    (copy, dir)
}

/// Run `copy` (from [`copy_elsewhere`]) in `dir` as [`run_elsewhere`] does: no `GRADLAB_DATA`,
/// home and cache folder inside `dir`.
pub fn run_copy(copy: &Path, args: &[&str], dir: &Path) -> Output {
    let home = dir.join("home");
    Command::new(copy)
        .args(args)
        .current_dir(dir)
        .env_remove("GRADLAB_DATA")
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", copy.display()))
}

/// Run `exe args` in `cwd`, assert it succeeded, and return its output as one string.
pub fn succeeds(exe: &str, args: &[&str], cwd: &Path) -> String {
    let o = run(exe, args, cwd, None);
    let t = text(&o);
    assert!(o.status.success(), "{exe} {args:?}:\n{t}");
    t
}

/// What an `export` command wrote: every tensor's shape by name (each checked to be float32)
/// and the file's metadata. Also checks that running `again` (the same export) is refused
/// and leaves the file as it was.
pub fn export_file(
    exe: &str,
    again: &[&str],
    cwd: &Path,
    file: &Path,
) -> (
    std::collections::BTreeMap<String, Vec<usize>>,
    std::collections::HashMap<String, String>,
) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shapes = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            (name, view.shape().to_vec())
        })
        .collect();
    let o = run(exe, again, cwd, None);
    assert!(
        !o.status.success() && text(&o).contains("does not overwrite"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(file).unwrap(), bytes, "{} changed", file.display());
    (shapes, header.metadata().clone().unwrap_or_default())
}

/// Set (to anything) where the checks by other runtimes (Python's onnxruntime) must run: CI sets
/// it, with [`PYTHON`] naming the interpreter of the venv it made, so a missing module fails the
/// tests there instead of skipping them.
pub const REQUIRE_PYTHON_CHECKS: &str = "GRADLAB_REQUIRE_PYTHON_CHECKS";

/// The Python interpreter the tests use: `$GRADLAB_PYTHON`, else `python3` on the PATH.
pub const PYTHON: &str = "GRADLAB_PYTHON";

/// A Python interpreter that imports every one of `modules` (`["onnxruntime", "numpy"]`; none:
/// any Python), or `None` after a one-line notice naming the pip command — unless [`REQUIRE_PYTHON_CHECKS`] is
/// set, where a missing interpreter or module fails the test. `what` names the skipped test.
pub fn python_with(modules: &[&str], what: &str) -> Option<PathBuf> {
    let python = std::env::var_os(PYTHON).map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let probe = Command::new(&python)
        .arg("-c")
        .arg(if modules.is_empty() {
            "pass".to_string()
        } else {
            format!("import {}", modules.join(", "))
        })
        .output();
    let problem = match probe {
        Ok(o) if o.status.success() => return Some(python),
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("cannot run {}: {e}", python.display()),
    };
    skip_unless_required(
        REQUIRE_PYTHON_CHECKS,
        format!(
            "{what} needs Python with {} ({REQUIRE_PYTHON_CHECKS} is set; {PYTHON}={}): {problem}",
            modules.join(", "),
            python.display()
        ),
        format!(
            "{what}: {problem} — pip install {} (or set {PYTHON} to a Python that has them)",
            modules.join(" ")
        ),
    );
    None
}

/// A workspace binary built beside the running test (`target/<profile>/NAME`): for a test that
/// runs another package's binary (`gradlab-serve` from mnist-cnn's tests). Panics, naming the
/// build command, when it was not built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let bin = workspace_bin_path(name);
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release --workspace --features remote`",
        bin.display()
    );
    bin
}

/// Where [`workspace_bin`] looks for the binary `name`, built or not: `target/<profile>/NAME`
/// beside the running test (`target/<profile>/deps/<test>`).
pub fn workspace_bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/")
        .join(name)
}

/// A `gradlab-serve` process for a test: on a free loopback port unless `args` name another
/// `--listen`; stopped (killed) when dropped. Its stderr is collected as it comes.
#[derive(Debug)]
pub struct ServeProcess {
    child: std::process::Child,
    /// Where it listens, `ws://127.0.0.1:PORT`.
    pub url: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread collecting stderr: it ends when the process's stderr closes (it exited).
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    /// Start `gradlab-serve args` with the extra environment `envs`, and wait (at most a minute)
    /// for its `listening on` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let exe = workspace_bin("gradlab-serve");
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--listen") {
            all.extend(["--listen", "127.0.0.1:0"]);
        }
        let mut child = Command::new(&exe)
            .args(&all)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("stderr is piped");
        let mut stderr_reader = Some(std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        }));
        let out = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = loop {
            match rx.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("gradlab-serve: listening on ") {
                        break rest.split_whitespace().next().unwrap_or_default().to_string();
                    }
                }
                Err(_) => {
                    child.kill().ok();
                    child.wait().ok();
                    // Its last lines: the reader ends at the end of its stderr.
                    if let Some(reader) = stderr_reader.take() {
                        reader.join().ok();
                    }
                    panic!(
                        "gradlab-serve {all:?} printed no `listening on` line; stderr:\n{}",
                        stderr.lock().unwrap_or_else(|e| e.into_inner())
                    );
                }
            }
        };
        ServeProcess {
            child,
            url,
            stderr,
            stderr_reader,
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether its stderr holds `needle` within `seconds` (its lines arrive on another thread).
    pub fn stderr_shows(&self, needle: &str, seconds: u64) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while !self.stderr().contains(needle) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        true
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kill it at once (SIGKILL), as a crash or a lost machine would stop it.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// Send it SIGTERM and wait (at most 30 s) for it to exit; its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for gradlab-serve") {
                // The stderr reader takes the last lines and ends with its stderr.
                if let Some(reader) = self.stderr_reader.take() {
                    reader.join().ok();
                }
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gradlab-serve did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A loopback port nothing listens on (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Hostile input for the servers' tests: a small seeded generator (the same bytes every run)
/// and mutations of valid requests, and a process's resident memory.
pub mod hostile {
    /// xorshift64*: seeded, so a failing input comes back on every run.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// A number in `0..n` (`n > 0`).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        pub fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next_u64() as u8).collect()
        }
        /// Between 0 and `max - 1` random bytes.
        pub fn some_bytes(&mut self, max: usize) -> Vec<u8> {
            let n = self.below(max);
            self.bytes(n)
        }
        pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// `seed` mutated one way: truncated, bits flipped, bytes set to extremes, a run of random
    /// bytes written in, a part duplicated, or random bytes appended.
    pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
        let mut b = seed.to_vec();
        if b.is_empty() {
            let k = 1 + rng.below(64);
            return rng.bytes(k);
        }
        let n = b.len();
        match rng.below(6) {
            0 => b.truncate(rng.below(n)),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(n);
                    b[i] ^= 1 << rng.below(8);
                }
            }
            2 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(n);
                    b[i] = *rng.pick(&[0u8, 0x7F, 0x80, 0xFF, b'\r', b'\n', b':', b'"']);
                }
            }
            3 => {
                let at = rng.below(n);
                let k = 1 + rng.below(64);
                for (k, v) in rng.bytes(k).into_iter().enumerate() {
                    if let Some(x) = b.get_mut(at + k) {
                        *x = v;
                    }
                }
            }
            4 => {
                let (from, at) = (rng.below(n), rng.below(n));
                let part = b[from..(from + 1 + rng.below(256)).min(n)].to_vec();
                b.splice(at..at, part);
            }
            _ => {
                let k = rng.below(512);
                let tail = rng.bytes(k);
                b.extend(tail);
            }
        }
        b
    }

    /// The resident memory of process `pid` in KiB (Linux `/proc`; `None` elsewhere).
    pub fn rss_kib(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Send `request` on a new connection to `addr` (write errors ignored: the server may close
    /// first) and read the answer. When nothing comes within `patience` (a request the server is still
    /// waiting on: a body shorter than its `Content-Length`, a keep-alive connection), the
    /// writing half is closed (end of input) and the answer awaited for at most `timeout` more.
    /// The status of an HTTP answer, `Some(0)` for a connection closed without one, `None` when
    /// nothing came and the connection stayed open past `timeout` (a hang).
    pub fn exchange(
        addr: &str,
        request: &[u8],
        patience: std::time::Duration,
        timeout: std::time::Duration,
    ) -> Option<u16> {
        use std::io::{Read, Write};
        use std::time::Duration;
        let mut conn = std::net::TcpStream::connect(addr).expect("the server accepts connections");
        conn.set_write_timeout(Some(timeout)).ok();
        conn.write_all(request).ok();
        conn.set_read_timeout(Some(patience)).ok();
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        let mut half_closed = false;
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    answer.extend_from_slice(&buf[..k]);
                    // The rest of an answer comes at once; a kept-alive connection then idles.
                    conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
                    if answer.len() > 1 << 20 {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if !answer.is_empty() {
                        break;
                    }
                    if half_closed {
                        return None;
                    }
                    conn.shutdown(std::net::Shutdown::Write).ok();
                    conn.set_read_timeout(Some(timeout)).ok();
                    half_closed = true;
                }
                // Reset by the server: a closed connection.
                Err(_) => break,
            }
        }
        let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
        Some(
            head.strip_prefix("HTTP/1.1 ")
                .or_else(|| head.strip_prefix("HTTP/1.0 "))
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        )
    }
}
