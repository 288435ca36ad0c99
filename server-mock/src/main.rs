use clap::Parser;
use server_mock::Config;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// Print the OpenAPI document and exit.
    #[arg(long)]
    print_openapi: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_openapi {
        println!("{}", server_mock::routes::openapi().to_pretty_json()?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.config.log)?)
        .with_writer(std::io::stderr)
        .init();
    let server = server_mock::start(cli.config).await?;
    println!("{}", server_mock::demo::banner(&server.base_url()));
    if let Some(ca) = &server.ca_pem {
        println!(
            "TLS: trust the development CA in target/mock-tls/dev-ca.pem (or --tls-dir)\n{ca}"
        );
    }
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
