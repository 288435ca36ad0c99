//! Server configuration, from the command line (`server-mock --help`) or built by tests.

use std::net::SocketAddr;
use std::path::PathBuf;

/// PBKDF2-HMAC-SHA256 iterations for password hashes (DESIGN.md: at least 600,000).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "server-mock",
    version,
    about = "Stateful mock of the uPay backend for mobile developers"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite file for the default sandbox; in memory when absent.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Serve HTTPS with a generated development certificate.
    #[arg(long)]
    pub tls: bool,
    /// Where `--tls` keeps its development CA (`dev-ca.pem`, reused across runs so clients can
    /// trust it once) and server certificate.
    #[arg(long, default_value = "target/mock-tls")]
    pub tls_dir: PathBuf,
    /// Seed demo users and data into every new sandbox.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub demo: bool,
    /// PBKDF2 iterations for password hashes. Lower it only for tests.
    #[arg(long, default_value_t = DEFAULT_PBKDF2_ITERATIONS)]
    pub pbkdf2_iterations: u32,
    /// Requests per client per 10-second window before 429; 0 disables rate limiting.
    #[arg(long, default_value_t = 1000)]
    pub rate_limit: u32,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, default_value = "info")]
    pub log: String,
}

impl Config {
    /// A configuration for tests: loopback on a free port, in memory, demo data, cheap hashing.
    pub fn for_tests() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: None,
            tls: false,
            tls_dir: PathBuf::from("target/mock-tls"),
            demo: true,
            pbkdf2_iterations: 1_000,
            rate_limit: 0,
            log: "warn".to_owned(),
        }
    }
}
