//! A real PostgreSQL server on a temporary data directory and a free loopback port, for the lab,
//! the tests and the benchmark: Debian's `postgresql` package (`initdb`, `postgres`), never the
//! system's cluster. PostgreSQL refuses to run as root, so under root the server runs as the
//! package's `postgres` account (or `nobody`), which then owns the directory.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::CentralError;

/// Where Debian puts the server's programs; `COMMISSIONER_PG_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The role and database the server is created with.
pub const ROLE: &str = "commissioner";
pub const DATABASE: &str = "commissioner";

/// A running server; stopped (fast shutdown) on drop, and by a watchdog if this process dies
/// without dropping it (a lazily started test fixture never is).
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    password: String,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    watchdog: Option<Child>,
}

fn io_err(what: &str, source: std::io::Error) -> CentralError {
    CentralError::Server(format!("{what}: {source}"))
}

/// The account PostgreSQL runs under when this process is root: `postgres`, else `nobody`.
fn unprivileged_account() -> Result<Option<(u32, u32)>, CentralError> {
    if !rustix::process::getuid().is_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| io_err("/etc/passwd", e))?;
    for name in ["postgres", "nobody"] {
        let found = passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        });
        if let Some(ids) = found {
            return Ok(Some(ids));
        }
    }
    Err(CentralError::Server(
        "running as root and neither a postgres nor a nobody account exists to run PostgreSQL"
            .into(),
    ))
}

impl PgServer {
    /// Creates a cluster in `dir` (which must not hold one yet) with role and database
    /// `commissioner` and `password`, and starts it on a free loopback port.
    pub fn start(dir: &Path, password: &str) -> Result<Self, CentralError> {
        let bin = std::env::var_os("COMMISSIONER_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
        if !bin.join("initdb").exists() {
            return Err(CentralError::Server(format!(
                "PostgreSQL's initdb is not at {} (install Debian's postgresql package, or set COMMISSIONER_PG_BIN)",
                bin.display()
            )));
        }
        let run_as = unprivileged_account()?;
        std::fs::create_dir_all(dir).map_err(|e| io_err("server directory", e))?;
        let pwfile = dir.join("pwfile");
        std::fs::File::create(&pwfile)
            .and_then(|mut f| f.write_all(password.as_bytes()))
            .map_err(|e| io_err("password file", e))?;
        std::fs::create_dir_all(dir.join("socket")).map_err(|e| io_err("socket dir", e))?;
        if let Some((uid, gid)) = run_as {
            for p in [dir, &dir.join("socket"), &pwfile] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .map_err(|e| io_err("chown", e))?;
            }
            // The account must reach the directory through its parents (a tempdir is 0700).
            if let Some(parent) = dir.parent() {
                let mode = std::fs::metadata(parent)
                    .map_err(|e| io_err("server parent", e))?
                    .permissions()
                    .mode();
                let _ =
                    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o011));
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", ROLE, "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .env("LC_ALL", "C")
            .stdout(Stdio::null());
        if let Some((uid, gid)) = run_as {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().map_err(|e| io_err("initdb", e))?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            return Err(CentralError::Server(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = crate::lab::free_port().map_err(|e| CentralError::Server(e.to_string()))?;
        let mut server = Self {
            dir: dir.to_owned(),
            port,
            password: password.to_owned(),
            bin,
            run_as,
            child: None,
            watchdog: None,
        };
        server.create_database()?;
        Ok(server)
    }

    /// Starts again a cluster that [`PgServer::start`] made in `dir` earlier, on `port`, with
    /// the data it holds.
    pub fn open(dir: &Path, port: u16, password: &str) -> Result<Self, CentralError> {
        let bin = std::env::var_os("COMMISSIONER_PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
        if !dir.join("data").join("PG_VERSION").exists() {
            return Err(CentralError::Server(format!(
                "no PostgreSQL cluster in {}",
                dir.display()
            )));
        }
        let mut server = Self {
            dir: dir.to_owned(),
            port,
            password: password.to_owned(),
            bin,
            run_as: unprivileged_account()?,
            child: None,
            watchdog: None,
        };
        server.run()?;
        Ok(server)
    }

    /// Leaves the server running when this value goes (the lab's, which `lab down` stops):
    /// no watchdog, no stop on drop. Returns the server's process id.
    pub fn detach(mut self) -> Option<u32> {
        if let Some(mut dog) = self.watchdog.take() {
            // Killed, the watchdog never runs its `kill`.
            let _ = dog.kill();
            let _ = dog.wait();
        }
        self.child.take().map(|c| c.id())
    }

    fn create_database(&mut self) -> Result<(), CentralError> {
        self.run()?;
        let mut client = self.client_for("postgres")?;
        client
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .map_err(|e| CentralError::Server(format!("CREATE DATABASE: {e}")))
    }

    /// Starts the server on its data directory and port (again, after [`PgServer::stop`]).
    pub fn run(&mut self) -> Result<(), CentralError> {
        if self.child.is_some() {
            return Ok(());
        }
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.join("socket"))
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=64"])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            );
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let child = cmd.spawn().map_err(|e| io_err("postgres", e))?;
        self.watchdog = watchdog(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.client_for("postgres").is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(CentralError::Server(format!(
                        "postgres exited ({status}): {}",
                        self.log()
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(CentralError::Server(format!(
                    "postgres did not accept connections within 30 s: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown: open connections are cut, as when a server goes away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            }
            let _ = child.wait();
        }
        if let Some(mut dog) = self.watchdog.take() {
            let _ = dog.kill();
            let _ = dog.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The URL a station's `[central] url` takes for this server (no password in it).
    pub fn url(&self) -> String {
        format!("postgresql://{ROLE}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The server's log, for a failure message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn client_for(&self, database: &str) -> Result<postgres::Client, CentralError> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(ROLE)
            .password(&self.password)
            .dbname(database)
            .connect(postgres::NoTls)
            .map_err(|e| CentralError::Server(e.to_string()))
    }

    /// A plain client to the `commissioner` database (administration, tests).
    pub fn client(&self) -> Result<postgres::Client, CentralError> {
        self.client_for(DATABASE)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A shell that waits for its stdin (held by this process) to close, then stops the server:
/// the server does not outlive a test binary that exits without dropping it.
fn watchdog(pid: u32) -> Option<Child> {
    Command::new("sh")
        .env_clear()
        .arg("-c")
        .arg(format!(
            "while read -r _; do :; done; kill -INT {pid} 2>/dev/null"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}
