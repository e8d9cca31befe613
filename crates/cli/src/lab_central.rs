//! `commissioner lab up --central`: the lab's central store, a real PostgreSQL from Debian's
//! package that outlives the command like the lab broker, with the station's `[central]`
//! pointed at it. Its cluster lives outside the station directory (which stays 0700: the
//! server runs as the `postgres` account when the station runs as root), under the system's
//! temporary directory, and keeps its data across `lab down` and `lab up`.

use std::fs;
use std::path::{Path, PathBuf};

use commissioner_core::central::server::PgServer;
use commissioner_core::central::CentralProfile;
use commissioner_core::lab::{self, LabFiles};
use commissioner_core::station::Station;
use sha2::{Digest, Sha256};

use crate::{usage_error, CmdResult};

fn pg_pid(files: &LabFiles) -> PathBuf {
    files.dir.join("pg.pid")
}

/// The cluster's directory: one per station directory.
fn cluster_dir(station_dir: &Path) -> PathBuf {
    let abs = fs::canonicalize(station_dir).unwrap_or_else(|_| station_dir.to_owned());
    let tag = hex::encode(&Sha256::digest(abs.as_os_str().as_encoded_bytes())[..6]);
    std::env::temp_dir().join(format!("commissioner-lab-pg-{tag}"))
}

/// Starts (or starts again) the lab's PostgreSQL and points `[central]` at it.
pub fn up(station: &mut Station, files: &LabFiles) -> CmdResult {
    if crate::lab::alive(&pg_pid(files)).is_some() {
        println!("the lab central store is already running");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let dir = cluster_dir(&station.dir);
    let fail = |e: commissioner_core::central::CentralError| {
        usage_error(
            "lab.central_failed",
            format!("the lab PostgreSQL did not start: {e}"),
        )
    };
    let kept = station
        .config
        .central
        .as_ref()
        .and_then(|c| c.password.clone())
        .filter(|_| dir.join("data").join("PG_VERSION").exists());
    let server = match kept {
        Some(password) => {
            let port = lab::free_port()?;
            PgServer::open(&dir, port, &password).map_err(fail)?
        }
        None => {
            // A cluster whose password the profile no longer holds cannot be opened: anew.
            let _ = fs::remove_dir_all(&dir);
            let password = hex::encode(rand::random::<[u8; 16]>());
            PgServer::start(&dir, &password).map_err(fail)?
        }
    };
    let url = server.url();
    let password = server.password().to_owned();
    let profile = match station.config.central.take() {
        Some(mut c) => {
            c.url = url.clone();
            c.password = Some(password);
            c
        }
        None => CentralProfile::lab(&url, &password),
    };
    station.config.central = Some(profile);
    station.save()?;
    let pid = server.detach().unwrap_or_default();
    commissioner_core::secure_fs::write(&pg_pid(files), pid.to_string().as_bytes())
        .map_err(|e| usage_error("lab.io", format!("{}: {e}", pg_pid(files).display())))?;
    println!(
        "central:    PostgreSQL on {url} (data in {})",
        dir.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Stops the lab's PostgreSQL, if it runs (fast shutdown); its data stays.
pub fn down(files: &LabFiles) -> bool {
    let pid_file = pg_pid(files);
    let stopped = crate::lab::alive(&pid_file).is_some_and(|pid| {
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    });
    let _ = fs::remove_file(&pid_file);
    stopped
}
