//! Periodic satisfaction surveys: each comes back every `every_days` (mock clock) and is
//! answered at most once per cycle.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use upay_protocol::api::engage::*;
use upay_protocol::error::{ErrorCode, Problem};

use super::store;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::help::kb::Locale;

/// Cycles are counted from 2024-01-01 UTC, so every user's cycle starts the same day.
const ANCHOR_MS: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

struct Question {
    id: &'static str,
    kind: SurveyQuestionKind,
    zh: &'static str,
    en: &'static str,
    options: &'static [(&'static str, &'static str)],
    required: bool,
}

struct Def {
    id: &'static str,
    title_zh: &'static str,
    title_en: &'static str,
    every_days: u32,
    questions: &'static [Question],
}

const SURVEYS: &[Def] = &[Def {
    id: "quarterly-satisfaction",
    title_zh: "U钱包季度满意度调查",
    title_en: "uPay quarterly satisfaction survey",
    every_days: 90,
    questions: &[
        Question {
            id: "overall",
            kind: SurveyQuestionKind::Rating,
            zh: "总体来说，您对U钱包满意吗？",
            en: "Overall, how satisfied are you with uPay?",
            options: &[],
            required: true,
        },
        Question {
            id: "recommend",
            kind: SurveyQuestionKind::Scale,
            zh: "您有多大可能向朋友推荐U钱包？（0–10）",
            en: "How likely are you to recommend uPay to a friend? (0–10)",
            options: &[],
            required: true,
        },
        Question {
            id: "most_used",
            kind: SurveyQuestionKind::Choice,
            zh: "您最常用的功能是？",
            en: "Which feature do you use most?",
            options: &[
                ("付款码", "Payment code"),
                ("转账", "Transfers"),
                ("充值提现", "Top-up and withdrawal"),
                ("理财", "Savings"),
                ("账单", "Bills"),
            ],
            required: false,
        },
        Question {
            id: "improve",
            kind: SurveyQuestionKind::Text,
            zh: "您希望我们改进什么？",
            en: "What should we improve?",
            options: &[],
            required: false,
        },
    ],
}];

fn cycle(def: &Def, now: i64) -> (u32, i64) {
    let period = def.every_days as i64 * DAY_MS;
    let n = (now - ANCHOR_MS).max(0) / period;
    (n as u32, ANCHOR_MS + (n + 1) * period)
}

fn render(def: &Def, zh: bool, now: i64) -> Survey {
    let pick = |z: &str, e: &str| if zh { z } else { e }.to_owned();
    Survey {
        id: def.id.to_owned(),
        title: pick(def.title_zh, def.title_en),
        questions: def
            .questions
            .iter()
            .map(|q| SurveyQuestion {
                id: q.id.to_owned(),
                kind: q.kind,
                text: pick(q.zh, q.en),
                options: q.options.iter().map(|(z, e)| pick(z, e)).collect(),
                required: q.required,
            })
            .collect(),
        every_days: def.every_days,
        cycle_ends_at: cycle(def, now).1,
    }
}

/// `GET /v1/surveys`: surveys the user has not answered in their current cycle.
#[utoipa::path(get, path = "/v1/surveys", tag = "engage", security(("bearer" = [])),
    responses((status = 200, body = SurveyList), (status = 401, body = Problem)))]
pub async fn list_surveys(user: AuthUser) -> ApiResult<Json<SurveyList>> {
    let now = user.sandbox.clock.now_ms();
    let zh = Locale::current().zh();
    let surveys = user.sandbox.read(|c| {
        let mut out = Vec::new();
        for def in SURVEYS {
            if !store::survey_answered(c, def.id, &user.user_id, cycle(def, now).0)? {
                out.push(render(def, zh, now));
            }
        }
        Ok(out)
    })?;
    Ok(Json(SurveyList { surveys }))
}

fn validate(def: &Def, answers: &[SurveyAnswer]) -> ApiResult<()> {
    for (i, a) in answers.iter().enumerate() {
        let field = format!("answers[{i}]");
        let Some(q) = def.questions.iter().find(|q| q.id == a.question_id) else {
            return Err(ApiError::field(
                &field,
                "unknown_question",
                "no such question",
            ));
        };
        if answers
            .iter()
            .filter(|b| b.question_id == a.question_id)
            .count()
            > 1
        {
            return Err(ApiError::field(&field, "duplicate", "answered twice"));
        }
        let ok = match q.kind {
            SurveyQuestionKind::Rating => a.value.is_some_and(|v| (1..=5).contains(&v)),
            SurveyQuestionKind::Scale => a.value.is_some_and(|v| v <= 10),
            SurveyQuestionKind::Choice => a.value.is_some_and(|v| (v as usize) < q.options.len()),
            SurveyQuestionKind::Text => a
                .text
                .as_deref()
                .is_some_and(|t| (1..=1000).contains(&t.chars().count())),
        };
        if !ok {
            return Err(ApiError::field(
                &field,
                "invalid",
                "is not a valid answer to this question",
            ));
        }
    }
    for q in def.questions.iter().filter(|q| q.required) {
        if !answers.iter().any(|a| a.question_id == q.id) {
            return Err(ApiError::field(
                "answers",
                "required",
                "a required question is unanswered",
            ));
        }
    }
    Ok(())
}

/// `PUT /v1/surveys/{id}/response`: answers a survey; once per cycle.
#[utoipa::path(put, path = "/v1/surveys/{id}/response", tag = "engage", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SurveyResponse,
    responses((status = 201, body = SurveyReceipt), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "survey_already_answered"), (status = 422, body = Problem)))]
pub async fn answer_survey(
    user: AuthUser,
    Path(id): Path<String>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<SurveyResponse>,
) -> ApiResult<(StatusCode, Json<SurveyReceipt>)> {
    let def = SURVEYS
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(ApiError::not_found)?;
    validate(def, &req.answers)?;
    let now = user.sandbox.clock.now_ms();
    let (n, _) = cycle(def, now);
    user.sandbox.write(|tx| {
        if store::survey_answered(tx, def.id, &user.user_id, n)? {
            return Err(ErrorCode::SurveyAlreadyAnswered.into());
        }
        store::insert_survey_response(tx, def.id, &user.user_id, n, &req.answers, now)
    })?;
    Ok((
        StatusCode::CREATED,
        Json(SurveyReceipt {
            survey_id: def.id.to_owned(),
            cycle: n,
            answered_at: now,
        }),
    ))
}
