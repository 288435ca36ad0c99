//! The OpenAPI document: generated from the code, served at `/openapi.json`, committed as
//! `docs/api/openapi.json`. (Real responses are checked against it by every integration test:
//! see `common/contract.rs`.)

mod common;

use serde_json::Value;

fn generated() -> Value {
    serde_json::to_value(server_mock::routes::openapi()).unwrap()
}

#[tokio::test]
async fn served_document_is_the_generated_one() {
    let s = common::TestServer::start().await;
    let served = s.get("/openapi.json", None).await;
    assert_eq!(served.body, generated());
    assert_eq!(served.body["openapi"], "3.1.0");
}

#[test]
fn committed_document_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api/openapi.json");
    let fresh = server_mock::routes::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/api/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p server-mock --test openapi` and commit it"
    );
}

#[test]
fn every_operation_is_described() {
    let doc = generated();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let what = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{what} has an operationId");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{what} has a tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{what} documents a response");
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{what} needs auth, so documents 401"
                );
            }
        }
    }
    assert!(count >= 30, "only {count} operations documented");
}
