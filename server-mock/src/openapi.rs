//! The OpenAPI 3.1 document, generated from the handlers' annotations; `docs/api/openapi.json`
//! is this document, checked by a test.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "uPay API (mock backend)",
        description = "The uPay backend API as served by `server-mock`. Errors are RFC 9457 problem documents with a stable `code`. Money is integer minor units plus an ISO 4217 code. Every response carries `Request-Id`.",
        version = "1.0.0"
    ),
    modifiers(&BearerAuth),
    components(schemas(upay_protocol::error::Problem, upay_protocol::error::ErrorCode, upay_protocol::api::events::LiveEvent)),
    tags(
        (name = "auth", description = "Registration, login, tokens, passwords, lockout, devices"),
        (name = "money", description = "Balances, history, transfers, payments, cards, FX"),
        (name = "control", description = "Mock-only control API under /__mock")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
