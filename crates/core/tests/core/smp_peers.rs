//! Intercreate's smpclient and smpmgr, installed unchanged at pinned versions by
//! `scripts/python-peers.sh`, drive the Zephyr SMP emulator over its pseudo-terminal: echo,
//! OS info and MCUmgr parameters, file upload, download, size and hash. What they report is
//! checked against what the emulator holds.

use std::path::Path;
use std::process::{Command, Output};

use commissioner_devsim::zephyr::{ZephyrFault, ZephyrSim, ZephyrSimConfig};
use sha2::{Digest, Sha256};

use crate::nrf91_peers::venv;

fn smpmgr(venv: &Path, sim: &ZephyrSim, args: &[&str]) -> String {
    let out = Command::new(venv.join("bin/smpmgr"))
        .args(["--port", sim.path(), "--timeout", "5"])
        .args(args)
        .env("COLUMNS", "200")
        .output()
        .expect("run smpmgr");
    checked(&format!("smpmgr {args:?}"), out)
}

fn checked(what: &str, out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// smpclient's own API for what smpmgr has no command for (OS info, MCUmgr parameters, a
/// SHA-256 file hash): prints one `key=value` line per answer.
const CLIENT_SCRIPT: &str = r#"
import asyncio, sys
from smpclient import SMPClient
from smpclient.generics import success
from smpclient.transport.serial import SMPSerialTransport
from smpclient.requests.os_management import OSApplicationInfoRead, MCUMgrParametersRead
from smpclient.requests.file_management import FileHashChecksum

async def main(port, path):
    async with SMPClient(SMPSerialTransport(), port, timeout_s=5) as c:
        params = await c.request(MCUMgrParametersRead())
        assert success(params), params
        print(f"buf_size={params.buf_size}")
        print(f"mtu={c._transport.max_unencoded_size}")
        info = await c.request(OSApplicationInfoRead(format="a"))
        assert success(info), info
        print(f"info={info.output}")
        h = await c.request(FileHashChecksum(name=path, type="sha256"))
        assert success(h), h
        print(f"sha256={h.output.hex()} len={h.len}")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

fn drive(cfg: ZephyrSimConfig) {
    let venv = venv();
    let sim = ZephyrSim::spawn(cfg).expect("emulator");
    let dir = tempfile::tempdir().expect("temp dir");

    let echo = smpmgr(&venv, &sim, &["os", "echo", "hello from smpmgr"]);
    assert!(echo.contains("hello from smpmgr"), "{echo}");

    // Larger than one SMP packet, so the upload and the download take several.
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 31 % 251) as u8).collect();
    let local = dir.path().join("cert.pem");
    std::fs::write(&local, &data).expect("write local file");
    let local_arg = local.to_string_lossy().into_owned();
    smpmgr(
        &venv,
        &sim,
        &["file", "upload", &local_arg, "/lfs/certs/peer.bin"],
    );
    assert_eq!(sim.file("/lfs/certs/peer.bin").as_deref(), Some(&data[..]));

    let size = smpmgr(&venv, &sim, &["file", "read-size", "/lfs/certs/peer.bin"]);
    assert!(size.contains("3000"), "{size}");

    let crc = smpmgr(&venv, &sim, &["file", "get-hash", "/lfs/certs/peer.bin"]);
    assert!(
        crc.contains(&crc32fast::hash(&data).to_string()),
        "the default (CRC32) hash of the file: {crc}"
    );

    let back = dir.path().join("back.bin");
    let back_arg = back.to_string_lossy().into_owned();
    smpmgr(
        &venv,
        &sim,
        &["file", "download", "/lfs/certs/peer.bin", &back_arg],
    );
    assert_eq!(std::fs::read(&back).expect("downloaded file"), data);

    let out = Command::new(venv.join("bin/python"))
        .args(["-c", CLIENT_SCRIPT, sim.path(), "/lfs/certs/peer.bin"])
        .output()
        .expect("run smpclient");
    let said = checked("smpclient script", out);
    assert!(said.contains("buf_size=384"), "{said}");
    assert!(
        said.contains("mtu=380"),
        "smpclient sized its packets from the params: {said}"
    );
    assert!(
        said.contains(&format!("info=Zephyr {} 4.1.0", sim.node_name())),
        "{said}"
    );
    let sha = hex::encode(Sha256::digest(&data));
    assert!(said.contains(&format!("sha256={sha} len=3000")), "{said}");
}

#[test]
fn smpmgr_and_smpclient_drive_the_stock_emulator() {
    drive(ZephyrSimConfig::default());
}

#[test]
fn smpmgr_and_smpclient_drive_a_chattering_emulator_with_split_frames() {
    drive(ZephyrSimConfig {
        commissioner_group: true,
        faults: vec![ZephyrFault::Chatter, ZephyrFault::SplitFrames],
        ..ZephyrSimConfig::default()
    });
}
