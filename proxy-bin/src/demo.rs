//! `kubewitness demo`: a simulated API server, kubewitness in front of it with TLS, a
//! kubeconfig for kubectl, and three commands to try. Needs no cluster.

use std::time::Duration;

use anyhow::Context;
use proxy_core::testbed::{Testbed, TestbedOptions};

use crate::Failure;
use crate::cli::DemoArgs;

pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let opts = TestbedOptions {
        listen: args.listen,
        dir: args.dir.clone(),
        ..TestbedOptions::default()
    };
    let mut bed = Testbed::start(opts)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("starting the demo")?;
    let kubeconfig = bed.kubeconfig.display().to_string();
    println!(
        "kubewitness demo: a simulated API server at {} with kubewitness in front of it at {}",
        bed.sim.url(),
        bed.url()
    );
    println!(
        "caller: {} (groups: {})",
        bed.callers[0].user,
        bed.callers[0].groups.join(", ")
    );
    println!();
    println!("In another terminal, try:");
    println!("  export KUBECONFIG={kubeconfig}");
    println!("  kubectl get pods");
    println!(
        "  kubectl exec web-0 -- sh -c 'echo hello from $(hostname); exit 3'; echo \"exit code: $?\""
    );
    println!("  kubectl logs -n shop api-7 --tail 5");
    println!();
    match args.r#for {
        Some(secs) => {
            println!("Running for {secs} s.");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(secs)) => {},
                _ = crate::serve::shutdown_signal() => {},
            }
        }
        None => {
            println!("Press Ctrl-C to stop.");
            crate::serve::shutdown_signal().await;
        }
    }
    bed.shutdown().await;
    Ok(())
}
