//! Ways to reach uPay besides the chat, per locale.

use axum::Json;
use upay_protocol::api::engage::*;

use crate::help::kb::Locale;

pub fn channels(zh: bool) -> Vec<ContactChannel> {
    let t = |z: &str, e: &str| if zh { z } else { e }.to_owned();
    vec![
        ContactChannel {
            kind: ChannelKind::Chat,
            label: t("在线客服", "In-app chat"),
            value: t(
                "智能客服即时回答，可转人工",
                "Instant answers, a person when you need one",
            ),
            link: "upay://support/chat".to_owned(),
            hours: t("24 小时", "24/7"),
            always_open: true,
        },
        ContactChannel {
            kind: ChannelKind::Hotline,
            label: t("客服热线", "Hotline"),
            value: "95000-8888".to_owned(),
            link: "tel:950008888".to_owned(),
            hours: t("24 小时", "24/7"),
            always_open: true,
        },
        ContactChannel {
            kind: ChannelKind::Hotline,
            label: t("境外来电", "Calling from abroad"),
            value: "+86 21 5555 0100".to_owned(),
            link: "tel:+862155550100".to_owned(),
            hours: t("每天 8:00–22:00（北京时间）", "Daily 8:00–22:00 (UTC+8)"),
            always_open: false,
        },
        ContactChannel {
            kind: ChannelKind::Email,
            label: t("客服邮箱", "E-mail"),
            value: "support@upay.example".to_owned(),
            link: "mailto:support@upay.example".to_owned(),
            hours: t("1 个工作日内回复", "Answered within 1 working day"),
            always_open: false,
        },
        ContactChannel {
            kind: ChannelKind::Social,
            label: t("官方微博", "Weibo"),
            value: "@U钱包官方".to_owned(),
            link: "https://weibo.example/upay".to_owned(),
            hours: t("每天 9:00–21:00", "Daily 9:00–21:00 (UTC+8)"),
            always_open: false,
        },
        ContactChannel {
            kind: ChannelKind::Social,
            label: t("微信公众号", "WeChat official account"),
            value: "U钱包服务号".to_owned(),
            link: "https://wechat.example/upay".to_owned(),
            hours: t("每天 9:00–21:00", "Daily 9:00–21:00 (UTC+8)"),
            always_open: false,
        },
        ContactChannel {
            kind: ChannelKind::Forum,
            label: t("用户社区", "Community forum"),
            value: "community.upay.example".to_owned(),
            link: crate::help::kb::FORUM_URL.to_owned(),
            hours: t(
                "随时浏览，官方人员工作日答复",
                "Always open; staff answer on working days",
            ),
            always_open: true,
        },
    ]
}

/// `GET /v1/support/channels`: hotline, e-mail, social accounts and hours in the caller's
/// language. Public.
#[utoipa::path(get, path = "/v1/support/channels", tag = "engage", responses((status = 200, body = ContactChannels)))]
pub async fn contact_channels() -> Json<ContactChannels> {
    Json(ContactChannels {
        channels: channels(Locale::current().zh()),
    })
}
