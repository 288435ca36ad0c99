//! Engagement: product feedback with a trackable status, satisfaction surveys, announcements and
//! maintenance notices, system status, the app version policy and contact channels.

use serde::{Deserialize, Serialize};

use crate::api::auth::Platform;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeedbackCategory {
    Bug,
    FeatureRequest,
    Payments,
    Account,
    Support,
    Other,
}

/// Where a piece of feedback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeedbackStatus {
    Received,
    UnderReview,
    Planned,
    Done,
    Declined,
}

/// `PUT /v1/feedback/{feedback_id}`: the id is made by the app (8–64 of `[A-Za-z0-9_-]`), so a
/// resend never files it twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FeedbackInput {
    pub category: FeedbackCategory,
    /// 1–2000 characters.
    pub text: String,
    /// Screenshots uploaded with `POST /v1/support/attachments`.
    #[serde(default)]
    pub attachment_ids: Vec<String>,
}

/// A staff answer or status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FeedbackReply {
    pub status: FeedbackStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Feedback {
    pub id: String,
    pub category: FeedbackCategory,
    pub text: String,
    pub attachment_ids: Vec<String>,
    pub status: FeedbackStatus,
    /// Oldest first.
    pub replies: Vec<FeedbackReply>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FeedbackList {
    /// Newest first.
    pub feedback: Vec<Feedback>,
}

/// Control API: staff move feedback along and answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FeedbackStatusChange {
    pub user_id: String,
    pub status: FeedbackStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SurveyQuestionKind {
    /// 1–5.
    Rating,
    /// 0–10 ("how likely are you to recommend").
    Scale,
    /// One of `options`.
    Choice,
    /// Free text, up to 1000 characters.
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SurveyQuestion {
    pub id: String,
    pub kind: SurveyQuestionKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    pub required: bool,
}

/// A survey the user has not answered in its current cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Survey {
    pub id: String,
    pub title: String,
    pub questions: Vec<SurveyQuestion>,
    /// The survey comes back every this many days.
    pub every_days: u32,
    /// The current cycle ends (and the next one starts) at this time.
    pub cycle_ends_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SurveyList {
    pub surveys: Vec<Survey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SurveyAnswer {
    pub question_id: String,
    /// For `rating`, `scale` and `choice` (the option's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `PUT /v1/surveys/{id}/response`: once per cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SurveyResponse {
    pub answers: Vec<SurveyAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SurveyReceipt {
    pub survey_id: String,
    pub cycle: u32,
    pub answered_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnnouncementKind {
    Maintenance,
    Incident,
    Notice,
}

/// An official notice in the caller's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Announcement {
    pub id: String,
    pub kind: AnnouncementKind,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// Affected parts (`payments`, `transfers`, `topup_withdrawal`, `support_chat`, `login`).
    pub components: Vec<String>,
    pub starts_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
    /// In force now (else upcoming).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AnnouncementList {
    /// In force now or starting within 7 days; most severe first.
    pub announcements: Vec<Announcement>,
}

/// Control API: publish a notice in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewAnnouncement {
    pub kind: AnnouncementKind,
    pub severity: Severity,
    pub title_zh: String,
    pub title_en: String,
    pub body_zh: String,
    pub body_en: String,
    #[serde(default)]
    pub components: Vec<String>,
    /// Defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Operational,
    Degraded,
    Maintenance,
    Outage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ComponentStatus {
    pub id: String,
    pub name: String,
    pub state: ServiceState,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SystemStatus {
    /// The worst state of any component.
    pub state: ServiceState,
    pub components: Vec<ComponentStatus>,
    /// Active notices behind the states.
    pub announcements: Vec<Announcement>,
    pub server_time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UpdateAdvice {
    /// Up to date.
    None,
    /// A newer version exists.
    Optional,
    /// Below the minimum supported version: the app must update before use.
    Required,
}

/// `GET /v1/app/version?platform=…&version=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VersionCheck {
    pub platform: Platform,
    pub latest: String,
    pub minimum_supported: String,
    pub update: UpdateAdvice,
    /// Same as `update == required`.
    pub force_update: bool,
    pub release_notes: String,
    pub store_url: String,
}

/// Control API: the policy of one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VersionPolicy {
    /// Dotted numbers, e.g. `2.3.0`.
    pub latest: String,
    pub minimum_supported: String,
    pub release_notes_zh: String,
    pub release_notes_en: String,
    pub store_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Chat,
    Hotline,
    Email,
    Social,
    Forum,
}

/// A way to reach uPay, in the caller's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContactChannel {
    pub kind: ChannelKind,
    /// What to show, e.g. "客服热线".
    pub label: String,
    /// Number, address, handle or URL.
    pub value: String,
    /// `tel:`, `mailto:` or `https:` link the app opens.
    pub link: String,
    /// e.g. "24 小时" or "Mon–Fri 9:00–18:00 (UTC+8)".
    pub hours: String,
    pub always_open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContactChannels {
    pub channels: Vec<ContactChannel>,
}
