//! `lattice`: the operator's command line for a lattice of providers.
//!
//! `lattice demo` launches the SDK's example provider as a host would, links
//! an actor to it, calls it over signed lattice RPC and prints every step.

use std::time::Instant;

use anyhow::Result;
use clap::{Parser, Subcommand};
use integration::{Host, ProviderRef, echo_provider, new_actor};

#[derive(Parser)]
#[command(version, about = "Operate and check lattice capability providers")]
struct Cli {
    /// NATS server of the lattice.
    #[arg(
        long,
        env = "LATTICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        global = true
    )]
    nats_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Launch the example provider, link an actor, call it, shut it down.
    Demo,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => demo(&cli.nats_url).await,
    }
}

async fn demo(nats_url: &str) -> Result<()> {
    let host = Host::new(nats_url).await?;
    println!("lattice   {} on {nats_url}", host.lattice());
    let hd = host.host_data("default");
    let echo = ProviderRef::new(&hd.provider_key, "default", "example:echo");
    let mut proc = host.launch(&echo_provider()?, hd).await?;
    println!(
        "launched  echo provider {} (pid {})",
        echo.key,
        proc.pid().unwrap_or(0)
    );
    let health = host.health(&echo).await?;
    println!("health    healthy={}", health.healthy);

    let actor = new_actor();
    host.link_actor(&echo, &actor, &[("prefix", "echo: ")])
        .await?;
    println!("linked    actor {actor}");

    let started = Instant::now();
    let out = host
        .call(&echo, &actor, "Echo.Echo", b"hello, lattice".to_vec())
        .await?;
    println!(
        "called    Echo.Echo -> {:?} in {:?}",
        String::from_utf8_lossy(&out),
        started.elapsed()
    );

    let stranger = new_actor();
    match host
        .call(&echo, &stranger, "Echo.Echo", b"hi".to_vec())
        .await
    {
        Err(e) => println!("unlinked  {stranger} -> {e}"),
        Ok(_) => anyhow::bail!("an unlinked actor was served"),
    }

    let big = vec![b'x'; 4 * 1024 * 1024];
    let started = Instant::now();
    let out = host.call(&echo, &actor, "Echo.Echo", big).await?;
    println!(
        "chunked   4 MiB body echoed ({} bytes back) in {:?}",
        out.len(),
        started.elapsed()
    );

    host.shutdown(&echo, None, Some(2000)).await?;
    let status = proc.wait(std::time::Duration::from_secs(10)).await?;
    println!("shutdown  provider exited with {status}");
    host.delete_chunk_bucket().await?;
    Ok(())
}
