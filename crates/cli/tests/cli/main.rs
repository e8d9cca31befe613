//! The `commissioner` binary as a technician or a script runs it.

mod commands;
mod sim;
