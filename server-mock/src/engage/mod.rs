//! Engagement: product feedback with a trackable status, periodic satisfaction surveys,
//! announcements and system status, the app version policy and contact channels.

pub mod channels;
pub mod feedback;
pub mod notices;
pub mod store;
pub mod surveys;
pub mod version;

use upay_protocol::api::engage::{AnnouncementKind, Severity};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::state::{AppState, Sandbox};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feedback::list_feedback))
        .routes(routes!(feedback::put_feedback, feedback::get_feedback))
        .routes(routes!(surveys::list_surveys))
        .routes(routes!(surveys::answer_survey))
        .routes(routes!(notices::announcements))
        .routes(routes!(notices::status))
        .routes(routes!(version::check_version))
        .routes(routes!(channels::contact_channels))
}

pub fn control_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(notices::mock_publish))
        .routes(routes!(notices::mock_withdraw))
        .routes(routes!(version::mock_set_version))
        .routes(routes!(feedback::mock_feedback_status))
}

const SEEDED_KEY: &str = "engage_seeded";

/// The demo notice every sandbox starts with: a maintenance window two days ahead (relative to
/// the sandbox's clock, so it is always upcoming in a fresh sandbox). Seeded on first use and
/// again after a reset.
pub fn ensure_seeded(sb: &Sandbox) -> ApiResult<()> {
    if sb
        .read(|c| crate::support::store::setting(c, SEEDED_KEY))?
        .is_some()
    {
        return Ok(());
    }
    let now = sb.clock.now_ms();
    let hour = 3600 * 1000;
    sb.write(|tx| {
        if crate::support::store::setting(tx, SEEDED_KEY)?.is_some() {
            return Ok(());
        }
        let row = store::AnnouncementRow {
            id: "AN00000001".to_owned(),
            kind: AnnouncementKind::Maintenance,
            severity: Severity::Warning,
            title_zh: "系统维护通知".to_owned(),
            title_en: "Scheduled maintenance".to_owned(),
            body_zh: "为提升服务质量，我们将进行系统升级维护，维护期间提现到银行卡可能延迟到账，其他功能不受影响。给您带来的不便敬请谅解。".to_owned(),
            body_en: "We are upgrading our systems. During the maintenance window, withdrawals to bank cards may arrive late; everything else works as usual. Sorry for the inconvenience.".to_owned(),
            components: vec!["topup_withdrawal".to_owned()],
            starts_at: now + 48 * hour,
            ends_at: Some(now + 50 * hour),
        };
        store::insert_announcement(tx, &row, now)?;
        crate::support::store::set_setting(tx, SEEDED_KEY, "1")
    })
}
