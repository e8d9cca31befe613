// Keep the console window away in release builds on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// WebKitGTK's accelerated compositing keeps GL surfaces and their buffers in the web process.
/// Commissioner's screens are plain DOM and gain nothing from it; without it the desktop bench
/// measured the web process at 107 instead of 197 MiB (PSS, Xvfb) and start-up 60 ms sooner.
/// An operator's own setting of the variable wins.
const COMPOSITING_ENV: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

fn main() {
    // WebKitGTK (Linux) only; the other platforms' webviews do not read it.
    if cfg!(target_os = "linux") && std::env::var_os(COMPOSITING_ENV).is_none() {
        // Set first thing in main, before any thread exists that could read the environment;
        // the web process WebKit starts later inherits it.
        std::env::set_var(COMPOSITING_ENV, "1");
    }
    commissioner_app::run();
}
