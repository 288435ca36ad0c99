//! The uPay wallet core: everything of the apps that is not pixels. Exported to Kotlin and Swift
//! through uniffi; see `docs/ARCHITECTURE.md`.

uniffi::setup_scaffolding!();

/// The core's version, for diagnostics and the app's "about" screen.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
