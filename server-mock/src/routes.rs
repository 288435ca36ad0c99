//! The router: API routes behind fault injection and rate limiting, the control API, health and
//! the OpenAPI document; request context (id, locale, sandbox) and body limits around all.

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use upay_protocol::error::ErrorCode;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest JSON body accepted by API routes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The API routes with their OpenAPI description, before layers (also used to print the spec).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(crate::auth::routes())
        .merge(crate::ledger::routes())
        .merge(crate::paycode::routes())
        .merge(crate::savings::routes())
        .merge(crate::events::routes())
        .merge(crate::support::routes())
        .merge(crate::help::routes())
        .merge(crate::engage::routes())
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api()
        .merge(OpenApiRouter::new().nest("/__mock", OpenApiRouter::new()))
        .split_for_parts();
    let (_, control) = crate::control::routes().split_for_parts();
    doc.merge(control);
    doc
}

pub fn router(state: AppState) -> Router {
    let (api, _) = api().split_for_parts();
    let api = api
        .layer(middleware::from_fn(crate::ratelimit::limit))
        .layer(middleware::from_fn(crate::faults::inject));
    let (control, _) = crate::control::routes().split_for_parts();
    let spec = openapi();
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route(
            "/openapi.json",
            get(move || std::future::ready(Json(spec.clone()))),
        )
        .merge(control)
        .merge(api)
        .merge(crate::support::console::router())
        .fallback(crate::context::not_found)
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::context::request_context,
        ))
        .with_state(state)
}
