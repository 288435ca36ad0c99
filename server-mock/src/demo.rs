//! Demo data seeded into every new sandbox: users a developer can sign in as at once, with
//! balances and history (the ledger adds those through `ledger::seed_demo`).

use serde::Serialize;

use crate::auth::store::{self, UserRow};
use crate::error::ApiResult;
use crate::state::Sandbox;

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct DemoUser {
    pub user_id: &'static str,
    /// National format, as typed in the app.
    pub phone: &'static str,
    pub password: &'static str,
    pub full_name: &'static str,
    pub id_last4: &'static str,
    pub note: &'static str,
}

pub const DEMO_PASSWORD: &str = "Demo1234";

pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        user_id: "U0000000001",
        phone: "13800138000",
        password: DEMO_PASSWORD,
        full_name: "张伟",
        id_last4: "1234",
        note: "main demo user: CNY, USD and HKD balances, months of history, a linked card",
    },
    DemoUser {
        user_id: "U0000000002",
        phone: "13900139000",
        password: DEMO_PASSWORD,
        full_name: "李娜",
        id_last4: "5678",
        note: "second user to transfer to",
    },
    DemoUser {
        user_id: "U1990000001",
        phone: "19900000001",
        password: DEMO_PASSWORD,
        full_name: "Test Magic",
        id_last4: "0000",
        note: "magic test number: every SMS code is 246810",
    },
];

pub fn seed_if_empty(sb: &Sandbox) -> ApiResult<()> {
    let empty = sb.read(|c| {
        Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? == 0)
    })?;
    if !empty {
        return Ok(());
    }
    let iterations = sb.settings().pbkdf2_iterations;
    // Hash before taking the database lock: PBKDF2 is slow on purpose.
    let hashes: Vec<String> = DEMO_USERS
        .iter()
        .map(|u| crate::auth::password::hash(u.password, iterations))
        .collect();
    let now = sb.clock.now_ms();
    sb.write(|tx| {
        for (u, hash) in DEMO_USERS.iter().zip(hashes) {
            let phone = upay_protocol::api::auth::normalize_phone(u.phone)
                .expect("demo phone numbers are valid");
            store::insert_user(
                tx,
                &UserRow {
                    id: u.user_id.to_owned(),
                    phone,
                    full_name: u.full_name.to_owned(),
                    id_last4: u.id_last4.to_owned(),
                    password_hash: hash,
                    frozen: false,
                    // A year of history needs an account at least that old.
                    created_at: now - 400 * 24 * 3600 * 1000,
                },
            )?;
            crate::ledger::open_accounts(tx, u.user_id, now)?;
        }
        crate::ledger::seed_demo(tx, now)
    })
}

/// The banner printed at start: everything a developer needs to sign in.
pub fn banner(base_url: &str) -> String {
    let mut out = format!(
        "uPay mock backend listening on {base_url}\n\nDemo users (password for all: {DEMO_PASSWORD}):\n"
    );
    for u in DEMO_USERS {
        out.push_str(&format!(
            "  {}  {:<12} {:<10} {}\n",
            u.user_id, u.phone, u.full_name, u.note
        ));
    }
    out.push_str(&format!(
        "\nSMS codes: GET {base_url}/__mock/sms (numbers starting 1990000 always get {})\n",
        crate::auth::MAGIC_OTP
    ));
    out.push_str(&format!(
        "Magic values and scenarios: GET {base_url}/__mock/magic\n"
    ));
    out.push_str(&format!(
        "OpenAPI: {base_url}/openapi.json    Health: {base_url}/healthz\n"
    ));
    out
}
