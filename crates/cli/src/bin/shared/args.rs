//! The benchmarks' few numeric flags, without pulling clap into each bench binary.

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
