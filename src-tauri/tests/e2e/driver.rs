//! tauri-driver as a child process: found, started on free ports, killed on drop.

use std::ffi::OsStr;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running tauri-driver (and, in its process group, WebKitWebDriver and the app).
pub struct TauriDriver {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl TauriDriver {
    /// Starts tauri-driver with `envs` set for it (the app it launches inherits them).
    pub fn start(log_dir: &Path, envs: &[(&str, &OsStr)]) -> TauriDriver {
        let exe = find_tauri_driver();
        let port = free_port();
        let native_port = free_port();
        // One log per driver: the e2e tests run side by side.
        let log = log_dir.join(format!("tauri-driver-{port}.log"));
        let out = File::create(&log).expect("create tauri-driver log");
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group, so that drop can stop WebKitWebDriver and the app too.
        .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let driver = TauriDriver { child, port, log };
        driver.wait_listening(Duration::from_secs(20));
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The driver's (and the app's) output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_listening(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "tauri-driver did not listen on port {} within {timeout:?}; its log:\n{}",
            self.port,
            self.log()
        );
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- tauri-driver and app log ----\n{}", self.log());
        }
        // Stop the whole group we created (tauri-driver, WebKitWebDriver, the app), by its id.
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$TAURI_DRIVER`, else `tauri-driver` on `PATH`, else `~/.cargo/bin/tauri-driver`.
fn find_tauri_driver() -> PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tauri-driver"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin").join("tauri-driver"))
        .filter(|p| p.is_file());
    on_path.or(in_cargo).unwrap_or_else(|| {
        panic!("tauri-driver not found on PATH or in ~/.cargo/bin: run scripts/install-deps.sh")
    })
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}
