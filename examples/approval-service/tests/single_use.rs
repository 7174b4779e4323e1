//! Single use across replicas and restarts: the redeem endpoint consumes an approval once,
//! atomically, in the shared store (a SQLite file; a throwaway PostgreSQL cluster), so two
//! service replicas racing on it let exactly one redemption through, and neither a restart
//! of the service nor of the database makes a used approval usable again.

mod common;

use common::{approved, jti_of, redeem, redeem_body, Idp};
use meshguard_approval::store::StoreConfig;
use meshguard_approval::testing::Postgres;
use meshguard_approval::Running;

/// Race `n` redemptions of the same approval over `replicas`; how many succeeded.
async fn race(replicas: &[&Running], jti: &str, n: usize) -> usize {
    let body = redeem_body(jti, "alice", "delete_repo");
    let http = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = replicas[i % replicas.len()].url("/v1/redeem");
        let (http, body) = (http.clone(), body.clone());
        set.spawn(async move {
            let r = http.post(url).json(&body).send().await.expect("redeem");
            r.status().as_u16()
        });
    }
    let mut won = 0;
    while let Some(status) = set.join_next().await {
        let status = status.expect("join");
        assert!(status == 200 || status == 409, "{status}");
        won += usize::from(status == 200);
    }
    won
}

/// The two-replica, restart-proof contract against one store configuration.
async fn once_across_replicas_and_restarts(store: StoreConfig, restart_db: Option<&Postgres>) {
    let idp = Idp::start().await;
    let a = common::service_with(&idp, store.clone(), None).await;
    let b = common::service_with(&idp, store.clone(), None).await;
    // Approved on replica A, redeemed at B; every further attempt at either is refused.
    let (id, token) = approved(&a, &idp, "carol").await;
    let jti = jti_of(&token);
    let (status, body) = redeem(&b, &redeem_body(&jti, "alice", "delete_repo")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approver"], "carol");
    assert_eq!(body["approval_id"], id.as_str());
    for s in [&a, &b] {
        let (status, body) = redeem(s, &redeem_body(&jti, "alice", "delete_repo")).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"], "approval_replayed");
    }
    // A fresh approval raced by 16 concurrent redemptions over both replicas: one wins.
    let (_, token) = approved(&b, &idp, "carol").await;
    let raced = jti_of(&token);
    assert_eq!(race(&[&a, &b], &raced, 16).await, 1);
    // The wrong call (other user, other tool) does not consume a fresh approval.
    let (_, token) = approved(&a, &idp, "carol").await;
    let fresh = jti_of(&token);
    for body in [
        redeem_body(&fresh, "mallory", "delete_repo"),
        redeem_body(&fresh, "alice", "delete_everything"),
    ] {
        let (status, v) = redeem(&b, &body).await;
        assert_eq!(status, 409, "{v}");
        assert_eq!(v["error"], "approval_mismatch");
    }
    let (status, v) = redeem(&a, &redeem_body("no-such-jti", "alice", "delete_repo")).await;
    assert_eq!(status, 404, "{v}");
    // Restart both replicas (and the database): used stays used, unused stays usable once.
    drop(a);
    drop(b);
    if let Some(pg) = restart_db {
        pg.restart().expect("postgres restart");
    }
    let a = common::service_with(&idp, store.clone(), None).await;
    for used in [&jti, &raced] {
        let (status, v) = redeem(&a, &redeem_body(used, "alice", "delete_repo")).await;
        assert_eq!(status, 409, "used approval usable after restart: {v}");
    }
    let (status, v) = redeem(&a, &redeem_body(&fresh, "alice", "delete_repo")).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_redeems_once_across_replicas_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("approvals.sqlite3");
    once_across_replicas_and_restarts(
        StoreConfig::Sqlite(path.to_string_lossy().into_owned()),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redeems_once_across_replicas_and_restarts() {
    let pg = Postgres::start().expect("postgres (make test installs postgresql)");
    once_across_replicas_and_restarts(StoreConfig::Postgres(pg.url()), Some(&pg)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_down_fails_closed() {
    let pg = Postgres::start().expect("postgres");
    let idp = Idp::start().await;
    let s = common::service_with(&idp, StoreConfig::Postgres(pg.url()), None).await;
    let (_, token) = approved(&s, &idp, "carol").await;
    let jti = jti_of(&token);
    pg.stop().expect("stop");
    let (status, v) = redeem(&s, &redeem_body(&jti, "alice", "delete_repo")).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"], "store_unavailable");
}
