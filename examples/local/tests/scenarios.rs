//! The demo's scenarios as assertions: every built scenario must end as expected.

use meshguard_local::report::Verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_built_scenario_ends_as_expected() {
    let rows = meshguard_local::scenarios::run_all()
        .await
        .expect("demo runs");
    let built: Vec<_> = rows
        .iter()
        .filter(|r| r.verdict != Verdict::Planned)
        .collect();
    assert!(built.len() >= 27, "too few built scenarios: {rows:?}");
    for row in built {
        assert_eq!(
            row.verdict,
            Verdict::Pass,
            "{}: expected {}, observed {}",
            row.scenario,
            row.expected,
            row.observed
        );
    }
}
