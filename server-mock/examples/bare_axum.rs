//! Baseline for the mock's load benchmark: the cheapest possible axum route (a static JSON body)
//! on the same runtime settings, so the mock's figures can be read as a ratio of it.
//! `cargo run --release -p server-mock --example bare_axum -- 127.0.0.1:18181`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".to_owned());
    let app = Router::new().route(
        "/v1/balances",
        get(|| async {
            axum::Json(serde_json::json!({"balances": [{"minor": 1234567, "currency": "CNY"}]}))
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare axum listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
