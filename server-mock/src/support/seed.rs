//! The demo agents every sandbox has. Seeded on first use rather than at sandbox creation
//! (the sandbox's own seeding belongs to the server core), and again after a reset wiped them.

use serde::Serialize;

use super::store;
use crate::error::ApiResult;
use crate::state::Sandbox;

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct DemoAgent {
    pub agent_id: &'static str,
    pub name: &'static str,
    pub password: &'static str,
}

pub const AGENT_PASSWORD: &str = "Agent1234";

pub const DEMO_AGENTS: &[DemoAgent] = &[
    DemoAgent {
        agent_id: "A001",
        name: "小美",
        password: AGENT_PASSWORD,
    },
    DemoAgent {
        agent_id: "A002",
        name: "Alex",
        password: AGENT_PASSWORD,
    },
];

pub fn ensure_agents(sb: &Sandbox) -> ApiResult<()> {
    if sb.read(store::agent_count)? >= DEMO_AGENTS.len() as i64 {
        return Ok(());
    }
    let iterations = sb.settings().pbkdf2_iterations;
    // Hash before taking the database lock: PBKDF2 is slow on purpose.
    let hashes: Vec<String> = DEMO_AGENTS
        .iter()
        .map(|a| crate::auth::password::hash(a.password, iterations))
        .collect();
    sb.write(|tx| {
        for (a, h) in DEMO_AGENTS.iter().zip(&hashes) {
            store::insert_agent(tx, a.agent_id, a.name, h)?;
        }
        Ok(())
    })
}
