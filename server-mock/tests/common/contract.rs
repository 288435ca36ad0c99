//! Contract check: every response a test receives is checked against the OpenAPI document the
//! server generates from its code. An undocumented path or status, or a body that does not match
//! the declared schema, fails the test that received it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

/// Statuses any API route may answer with a problem body (transport faults, limits, shape errors).
const GENERIC_STATUSES: &[u16] = &[400, 401, 404, 405, 413, 415, 422, 429, 500, 502, 503, 504];

struct Spec {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec {
        doc: serde_json::to_value(server_mock::routes::openapi()).expect("spec serialises"),
        validators: Mutex::new(HashMap::new()),
    })
}

fn template_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

fn validator(key: String, schema: &Value, components: &Value) -> Arc<jsonschema::Validator> {
    let spec = spec();
    let mut cache = spec.validators.lock().unwrap();
    cache
        .entry(key)
        .or_insert_with(|| {
            // Refs are `#/components/schemas/...`: resolve them inside one document.
            let root = json!({ "allOf": [schema], "components": components });
            Arc::new(jsonschema::validator_for(&root).expect("response schema compiles"))
        })
        .clone()
}

/// Panics when the response breaks the contract.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    let path = path.split('?').next().unwrap_or(path);
    if !(path.starts_with("/v1/") || path.starts_with("/__mock/")) {
        return;
    }
    let doc = &spec().doc;
    let components = &doc["components"];
    let method = method.to_ascii_lowercase();
    let operation = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(template, _)| template_matches(template, path))
        // A literal segment beats a parameter (`/v1/devices/sign-out-others` vs `{device_id}`).
        .min_by_key(|(template, _)| template.matches('{').count())
        .and_then(|(_, item)| item.get(&method));
    let Some(operation) = operation else {
        // Unknown route or method: the generic 404/405 problems.
        assert!(
            matches!(status, 404 | 405),
            "contract: {method} {path} is not in the OpenAPI document (got {status})"
        );
        return check_problem(status, body, components);
    };
    let response = &operation["responses"][status.to_string()];
    if response.is_null() {
        assert!(
            GENERIC_STATUSES.contains(&status),
            "contract: status {status} of {method} {path} is not documented (body {body})"
        );
        return check_problem(status, body, components);
    }
    let content = &response["content"];
    let Some((media, media_obj)) = content.as_object().and_then(|c| c.iter().next()) else {
        assert!(
            body.is_null(),
            "contract: {method} {path} {status} documents no body but sent {body}"
        );
        return;
    };
    if media == "application/json" || media.ends_with("+json") {
        let key = format!("{method} {path} {status}");
        let v = validator(key, &media_obj["schema"], components);
        if let Err(e) = v.validate(body) {
            panic!(
                "contract: {method} {path} {status} body does not match its schema: {e}\nbody: {body}"
            );
        }
    }
}

fn check_problem(status: u16, body: &Value, components: &Value) {
    if body.is_null() {
        return;
    }
    let v = validator(
        "problem".to_owned(),
        &json!({"$ref": "#/components/schemas/Problem"}),
        components,
    );
    if let Err(e) = v.validate(body) {
        panic!("contract: {status} problem body does not match Problem: {e}\nbody: {body}");
    }
    assert_eq!(
        body["status"], status,
        "problem status matches the HTTP status"
    );
}
