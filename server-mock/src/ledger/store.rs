//! Ledger tables.

pub const SCHEMA: &str = "CREATE TABLE ledger_placeholder (id INTEGER PRIMARY KEY)";
