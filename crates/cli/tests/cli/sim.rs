use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts `commissioner sim` with `args`, reads what it prints up to its ready line, stops it.
fn sim_banner(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sim");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("press Ctrl-C"))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// `unit <n>  <id>  <path>…` lines, as (id, rest).
fn units(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.starts_with("unit "))
        .map(|l| {
            let mut parts = l.split_whitespace().skip(2);
            let id = parts.next().unwrap_or_default().to_owned();
            (id, l.clone())
        })
        .collect()
}

#[test]
fn sim_count_store_and_per_unit_faults() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("units");
    let store_arg = store.to_str().expect("utf-8 path");
    let first = units(&sim_banner(&[
        "--count",
        "3",
        "--store",
        store_arg,
        "--fault",
        "2=drop-bytes",
    ]));
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first[1].1.contains("faults: drop-bytes"), "{first:?}");
    assert!(!first[0].1.contains("faults"), "{first:?}");
    assert!(Path::new(&store).join("unit-3.json").exists());

    // The same store: the same units, with the same identities.
    let again = units(&sim_banner(&["--count", "3", "--store", store_arg]));
    let ids = |u: &[(String, String)]| u.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&first));
}

#[test]
fn sim_refuses_an_unknown_fault_with_the_list_of_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .args(["sim", "--fault", "melt-down"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reboot-mid-write"), "{err}");
}

/// Starts `commissioner sim` with `args` and reads its banner up to the ready line; the
/// units keep running until the child is killed.
fn start_sim(args: &[&str]) -> (std::process::Child, Vec<String>) {
    let mut sim = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("sim")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sim");
    let stdout = sim.stdout.take().expect("stdout");
    let banner: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("press Ctrl-C"))
        .collect();
    (sim, banner)
}

#[test]
fn sim_nrf91_then_commission_prints_pass_with_family_imei_and_sec_tag() {
    use crate::commands::{commissioner, text};
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    for args in [&["lab", "init"][..], &["lab", "up"][..]] {
        let out = commissioner(&station, args);
        assert!(out.status.success(), "{}", text(&out));
    }
    let (mut sim, banner) = start_sim(&["--family", "nrf91-at", "--modem-fault", "modem-active"]);
    let unit = banner
        .iter()
        .find(|l| l.starts_with("unit 1"))
        .unwrap_or_else(|| panic!("{banner:?}"));
    let words: Vec<&str> = unit.split_whitespace().collect();
    let imei = words[words.iter().position(|w| *w == "IMEI").expect("IMEI") + 1];
    let port = *words.iter().find(|w| w.starts_with("/dev/")).expect("port");

    let out = commissioner(
        &station,
        &[
            "commission",
            "--family",
            "nrf91-at",
            "--port",
            port,
            "--operator",
            "tech",
        ],
    );
    let shown = text(&out);
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = commissioner(&station, &["lab", "down"]);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("PASS  session"), "{shown}");
    assert!(shown.contains("family       nrf91-at"), "{shown}");
    assert!(shown.contains(&format!("imei         {imei}")), "{shown}");
    assert!(shown.contains("sec_tag      16842753"), "{shown}");
}

#[test]
fn sim_nrf91_store_keeps_each_modem_across_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("modems");
    std::fs::create_dir(&store).expect("mkdir");
    let store_arg = store.to_str().expect("utf-8 path");
    let args = ["--family", "nrf91-at", "--count", "2", "--store", store_arg];
    // `unit <n>  nrf91-at  IMEI <imei>  UUID <uuid>  <path>`: the identity is IMEI and UUID.
    let identities = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("unit "))
            .map(|l| {
                l.split_whitespace()
                    .skip(3)
                    .take(4)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let first = identities(sim_banner(&args));
    assert_eq!(first.len(), 2, "{first:?}");
    assert_ne!(first[0], first[1], "every unit its own identity");
    assert!(store.join("nrf91-unit-2.json").exists());
    assert_eq!(identities(sim_banner(&args)), first);
}

/// Both modes of the zephyr-smp emulator commission to PASS through the CLI: stock firmware
/// with a station-made key (the profile allows it) and firmware with Commissioner's group.
#[test]
fn sim_zephyr_smp_then_commission_passes_in_both_modes() {
    use crate::commands::{commissioner, text};
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    for args in [&["lab", "init"][..], &["lab", "up"][..]] {
        let out = commissioner(&station, args);
        assert!(out.status.success(), "{}", text(&out));
    }
    let toml_path = station.join("station.toml");
    let toml = std::fs::read_to_string(&toml_path).expect("station.toml");
    let toml = if toml.contains("allow_host_generated_key = false") {
        toml.replace(
            "allow_host_generated_key = false",
            "allow_host_generated_key = true",
        )
    } else {
        toml.replacen(
            "[policy]\n",
            "[policy]\nallow_host_generated_key = true\n",
            1,
        )
    };
    std::fs::write(&toml_path, toml).expect("write station.toml");

    for (mode, extra, wants) in [
        ("stock", None, "the unit proved nothing"),
        (
            "commissioner-group",
            Some("--commissioner-group"),
            "handshake run as the unit",
        ),
    ] {
        let mut args = vec!["--family", "zephyr-smp"];
        args.extend(extra);
        let (mut sim, banner) = start_sim(&args);
        let port = banner
            .iter()
            .flat_map(|l| l.split_whitespace())
            .find(|w| w.starts_with("/dev/"))
            .unwrap_or_else(|| panic!("{banner:?}"))
            .to_owned();
        let out = commissioner(
            &station,
            &[
                "commission",
                "--family",
                "zephyr-smp",
                "--port",
                &port,
                "--operator",
                "tech",
            ],
        );
        let shown = text(&out);
        let _ = sim.kill();
        let _ = sim.wait();
        assert!(out.status.success(), "{mode}: {shown}");
        assert!(shown.contains("PASS  session"), "{shown}");
        assert!(shown.contains("family       zephyr-smp"), "{shown}");
        assert!(shown.contains(&format!("mode         {mode}")), "{shown}");
        assert!(shown.contains(wants), "{shown}");
    }
    let _ = commissioner(&station, &["lab", "down"]);
}
