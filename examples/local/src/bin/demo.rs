//! `make demo`: run the seeds' attacks through real Envoy and print who stopped what.

use meshguard_local::report::{render, Verdict};
use meshguard_local::scenarios;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = match scenarios::run_all().await {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("demo could not run: {e}");
            std::process::exit(2);
        }
    };
    println!("{}", render(&rows));
    let failed = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    let passed = rows.iter().filter(|r| r.verdict == Verdict::Pass).count();
    let planned = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Planned)
        .count();
    println!("\n{passed} stopped or allowed as expected, {failed} deviated, {planned} planned");
    if failed > 0 {
        std::process::exit(1);
    }
}
