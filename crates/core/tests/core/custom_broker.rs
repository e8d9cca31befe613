//! A real mosquitto with a configuration written by the test, for brokers nobody here would
//! configure on purpose: TLS 1.2 only, passwords, anonymous listeners. It runs on the lab's
//! files (broker certificate, CA, ACL, CRL) on free loopback ports.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commissioner_core::lab::{self, free_port, LabFiles};

use crate::fixture::LabStation;

/// A mosquitto started by the test; stopped on drop.
pub struct CustomBroker {
    child: Child,
}

impl CustomBroker {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for CustomBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines every config starts with; `listener` blocks follow.
pub fn common(files: &LabFiles) -> String {
    format!(
        "per_listener_settings true\n\
         persistence false\n\
         user root\n\
         log_dest file {log}\n\
         log_type all\n",
        log = files.log.display()
    )
}

/// The TLS listener of the lab on `port` without its `require_certificate` line, so that a
/// test can add what it wants (TLS version, passwords).
pub fn tls_listener(files: &LabFiles, port: u16) -> String {
    format!(
        "listener {port} 127.0.0.1\n\
         cafile {cafile}\n\
         certfile {cert}\n\
         keyfile {key}\n\
         acl_file {acl}\n",
        cafile = files.cafile.display(),
        cert = files.broker_cert.display(),
        key = files.broker_key.display(),
        acl = files.acl.display(),
    )
}

/// Points the station at a broker on a free port, writes the lab's files, lets `config` write
/// mosquitto.conf (given the files and the port) and starts mosquitto on it. The station's
/// profile is the lab's, at that port.
pub fn start(s: &mut LabStation, config: impl FnOnce(&LabFiles, u16) -> String) -> CustomBroker {
    start_with_openssl(s, None, config)
}

/// [`start`] with an OpenSSL configuration for mosquitto's TLS library (`OPENSSL_CONF`): what
/// mosquitto's own options cannot say, such as "TLS 1.2 at most" (its `tls_version` is a
/// minimum).
pub fn start_with_openssl(
    s: &mut LabStation,
    openssl_conf: Option<&str>,
    config: impl FnOnce(&LabFiles, u16) -> String,
) -> CustomBroker {
    let port = free_port().expect("port");
    let files = lab::prepare(&mut s.station, &s.ca, port).expect("lab files");
    std::fs::write(&files.config, config(&files, port)).expect("write mosquitto.conf");
    let mut cmd = Command::new(lab::mosquitto_binary().expect("mosquitto"));
    cmd.arg("-c")
        .arg(&files.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(text) = openssl_conf {
        let path = files.dir.join("openssl.cnf");
        std::fs::write(&path, text).expect("write openssl.cnf");
        cmd.env("OPENSSL_CONF", path);
    }
    let mut child = cmd.spawn().expect("spawn mosquitto");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let log = std::fs::read_to_string(&files.log).unwrap_or_default();
            panic!("mosquitto did not start on {port}: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    CustomBroker { child }
}

/// OpenSSL settings that cap TLS at 1.2: a broker that cannot speak TLS 1.3.
pub const TLS12_ONLY: &str = "openssl_conf = default_conf\n\
    [default_conf]\nssl_conf = ssl_sect\n\
    [ssl_sect]\nsystem_default = system_default_sect\n\
    [system_default_sect]\nMaxProtocol = TLSv1.2\n";
