//! Adversarial tests of the memory guard: every way a caller might reach another tenant.

use super::*;
use crate::config::parse;
use serde_json::{json, Value};

const COLL: &str = "/api/v2/tenants/default_tenant/databases/default_database/collections";

fn config_with(extra: Value) -> Config {
    let mut c = json!({});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    parse::<Config>(c.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn config() -> Config {
    config_with(json!({}))
}

fn sre() -> Caller {
    Caller {
        team: Some("sre".into()),
        session: Some("s1".into()),
        user: Some("alice".into()),
    }
}

fn run(config: &Config, op: Operation, body: Value) -> Result<Value, Denial> {
    let out = rewrite_body(config, &sre(), op, body.to_string().as_bytes())?;
    Ok(serde_json::from_slice(&out).unwrap())
}

fn reason(r: Result<Value, Denial>) -> String {
    match r {
        Err(d) => {
            assert!(d.status >= 400);
            d.reason.into_owned()
        }
        Ok(v) => panic!("expected a refusal, got {v}"),
    }
}

fn team_eq() -> Value {
    json!({"team": {"$eq": "sre"}})
}

#[test]
fn query_without_where_gets_the_tenant_clause() {
    let v = run(
        &config(),
        Operation::Query,
        json!({"query_embeddings": [[1.0, 0.0]], "n_results": 3}),
    )
    .unwrap();
    assert_eq!(v["where"], team_eq());
    assert_eq!(v["n_results"], 3);
}

#[test]
fn original_where_is_anded_under_the_tenant() {
    let v = run(
        &config(),
        Operation::Get,
        json!({"where": {"topic": {"$in": ["db", "net"]}}}),
    )
    .unwrap();
    assert_eq!(
        v["where"],
        json!({"$and": [team_eq(), {"topic": {"$in": ["db", "net"]}}]})
    );
}

#[test]
fn session_confinement_adds_the_session_clause() {
    let c = config_with(json!({"confine_to_session": true}));
    let v = run(&c, Operation::Get, json!({})).unwrap();
    assert_eq!(
        v["where"],
        json!({"$and": [team_eq(), {"session_id": {"$eq": "s1"}}]})
    );
}

#[test]
fn own_tenant_in_where_is_accepted() {
    for w in [
        json!({"team": "sre"}),
        json!({"team": {"$eq": "sre"}}),
        json!({"$and": [{"team": "sre"}, {"session_id": "s1"}]}),
        json!({"$or": [{"topic": "a"}, {"topic": "b"}]}),
    ] {
        assert!(
            run(&config(), Operation::Get, json!({"where": w})).is_ok(),
            "{w}"
        );
    }
}

#[test]
fn other_team_or_session_is_refused_at_any_depth() {
    for w in [
        json!({"team": "security"}),
        json!({"team": {"$eq": "security"}}),
        json!({"session_id": "s2"}),
        json!({"$and": [{"topic": "x"}, {"team": "security"}]}),
        json!({"$or": [{"team": "sre"}, {"team": "security"}]}),
        json!({"$and": [{"$or": [{"topic": "x"}, {"$and": [{"team": "security"}]}]}]}),
        json!({"team": 7}),
        json!({"team": null}),
    ] {
        assert_eq!(
            reason(run(
                &config(),
                Operation::Query,
                json!({"query_embeddings": [[1.0]], "where": w})
            )),
            "cross_tenant_filter"
        );
    }
}

#[test]
fn operators_other_than_equality_on_tenant_keys_are_refused() {
    for w in [
        json!({"team": {"$ne": "security"}}),
        json!({"team": {"$nin": ["sre"]}}),
        json!({"team": {"$in": ["sre", "security"]}}),
        json!({"team": {"$in": ["sre"]}}),
        json!({"team": {"$gt": ""}}),
        json!({"team": {"$contains": "s"}}),
        json!({"team": {"$regex": ".*"}}),
        json!({"team": {"$eq": "sre", "$ne": "x"}}),
        json!({"team": ["sre"]}),
        json!({"$or": [{"topic": "x"}, {"session_id": {"$ne": "s1"}}]}),
    ] {
        assert_eq!(
            reason(run(&config(), Operation::Get, json!({"where": w}))),
            "tenant_operator",
            "{w}"
        );
    }
}

#[test]
fn case_and_spacing_variants_of_tenant_keys_are_refused() {
    for w in [
        json!({"Team": "security"}),
        json!({"TEAM": "sre"}),
        json!({" team": "sre"}),
        json!({"Session_ID": "s2"}),
    ] {
        assert_eq!(
            reason(run(&config(), Operation::Get, json!({"where": w}))),
            "tenant_key_variant",
            "{w}"
        );
    }
}

#[test]
fn unknown_operators_and_malformed_filters_are_refused() {
    assert_eq!(
        reason(run(
            &config(),
            Operation::Get,
            json!({"where": {"$not": {"team": "sre"}}})
        )),
        "unknown_operator"
    );
    assert_eq!(
        reason(run(
            &config(),
            Operation::Get,
            json!({"where": {"$and": {"team": "sre"}}})
        )),
        "invalid_filter"
    );
    assert_eq!(
        reason(run(&config(), Operation::Get, json!({"where": "team=sre"}))),
        "invalid_filter"
    );
    assert_eq!(
        reason(run(&config(), Operation::Get, json!({"where": {}}))),
        "invalid_filter"
    );
    assert_eq!(
        reason(run(
            &config(),
            Operation::Get,
            json!({"where_document": "x"})
        )),
        "invalid_filter"
    );
}

#[test]
fn where_document_and_include_are_checked_but_kept() {
    let v = run(
        &config(),
        Operation::Get,
        json!({"where_document": {"$contains": "db"}, "include": ["documents", "metadatas"]}),
    )
    .unwrap();
    assert_eq!(v["where_document"], json!({"$contains": "db"}));
    assert_eq!(v["where"], team_eq());
    for include in [
        json!(["documents", "tenant"]),
        json!("documents"),
        json!([1]),
    ] {
        assert_eq!(
            reason(run(&config(), Operation::Get, json!({"include": include}))),
            "invalid_include"
        );
    }
}

#[test]
fn unknown_fields_and_non_objects_are_refused() {
    assert_eq!(
        reason(run(&config(), Operation::Get, json!({"read_level": "x"}))),
        "unknown_field"
    );
    assert_eq!(
        reason(run(
            &config(),
            Operation::Query,
            json!({"query_embeddings": [[1.0]], "tenant": "x"})
        )),
        "unknown_field"
    );
    assert_eq!(
        reason(run(&config(), Operation::Get, json!([1]))),
        "invalid_body"
    );
    let d = rewrite_body(&config(), &sre(), Operation::Get, b"{not json").unwrap_err();
    assert_eq!((d.status, d.reason.as_ref()), (400, "invalid_json"));
    let d = rewrite_body(
        &config(),
        &sre(),
        Operation::Get,
        br#"{"where":{"team":"security","team":"sre"}}"#,
    )
    .unwrap_err();
    assert_eq!(d.reason, "duplicate_key");
    let d = rewrite_body(
        &config(),
        &sre(),
        Operation::Get,
        br#"{"where":{"team":"sre","te\u0061m":"x"}}"#,
    )
    .unwrap_err();
    assert_eq!(d.reason, "duplicate_key");
}

#[test]
fn null_fields_count_as_absent() {
    let v = run(
        &config(),
        Operation::Get,
        json!({"ids": null, "where": null, "limit": null, "include": ["metadatas"]}),
    )
    .unwrap();
    assert_eq!(v, json!({"where": team_eq(), "include": ["metadatas"]}));
}

#[test]
fn writes_are_stamped() {
    let v = run(
        &config(),
        Operation::Add,
        json!({
            "ids": ["sre/s1/a", "sre/s1/b"], "embeddings": [[1.0], [2.0]],
            "metadatas": [{"topic": "db"}, null], "documents": ["x", "y"]
        }),
    )
    .unwrap();
    let stamp = json!({"team": "sre", "session_id": "s1", "user": "alice"});
    assert_eq!(
        v["metadatas"][0],
        json!({"topic": "db", "team": "sre", "session_id": "s1", "user": "alice"})
    );
    assert_eq!(v["metadatas"][1], stamp);
    let v = run(
        &config(),
        Operation::Upsert,
        json!({"ids": ["sre/s1/a"], "embeddings": [[1.0]]}),
    )
    .unwrap();
    assert_eq!(v["metadatas"], json!([stamp]));
    // Matching values the caller supplied are fine.
    assert!(run(&config(), Operation::Add, json!({"ids": ["sre/s1/a"], "embeddings": [[1.0]], "metadatas": [{"team": "sre", "user": "alice"}]})).is_ok());
}

#[test]
fn writes_naming_another_tenant_are_refused() {
    for m in [
        json!({"team": "security"}),
        json!({"session_id": "s2"}),
        json!({"user": "mallory"}),
        json!({"team": ["sre", "security"]}),
        json!({"team": null}),
    ] {
        let r = run(
            &config(),
            Operation::Add,
            json!({"ids": ["sre/s1/a"], "embeddings": [[1.0]], "metadatas": [m]}),
        );
        assert_eq!(reason(r), "conflicting_tenant_metadata");
    }
    let r = run(
        &config(),
        Operation::Update,
        json!({"ids": ["sre/s1/a"], "metadatas": [{"Team": "security"}]}),
    );
    assert_eq!(reason(r), "tenant_key_variant");
    let r = run(
        &config(),
        Operation::Add,
        json!({"ids": ["sre/s1/a", "sre/s1/b"], "embeddings": [[1.0], [1.0]], "metadatas": [{}]}),
    );
    assert_eq!(reason(r), "invalid_metadatas");
    let r = run(
        &config(),
        Operation::Add,
        json!({"ids": ["sre/s1/a"], "embeddings": [[1.0]], "metadatas": ["team=sre"]}),
    );
    assert_eq!(reason(r), "invalid_metadatas");
}

#[test]
fn ids_must_carry_the_tenant_prefix() {
    let refused = |op, body| reason(run(&config(), op, body));
    assert_eq!(
        refused(
            Operation::Update,
            json!({"ids": ["security/s9/secret"], "metadatas": [{}]})
        ),
        "id_outside_tenant"
    );
    assert_eq!(
        refused(
            Operation::Upsert,
            json!({"ids": ["sre/s2/x"], "embeddings": [[1.0]]})
        ),
        "id_outside_tenant"
    );
    assert_eq!(
        refused(
            Operation::Add,
            json!({"ids": ["sre/s1/"], "embeddings": [[1.0]]})
        ),
        "id_outside_tenant"
    );
    assert_eq!(
        refused(Operation::Get, json!({"ids": ["sre2/s1/x"]})),
        "id_outside_tenant"
    );
    assert_eq!(
        refused(Operation::Delete, json!({"ids": ["security/s1/x"]})),
        "id_outside_tenant"
    );
    assert_eq!(
        refused(Operation::Add, json!({"ids": [], "embeddings": []})),
        "invalid_ids"
    );
    assert_eq!(
        refused(Operation::Add, json!({"embeddings": [[1.0]]})),
        "invalid_ids"
    );
    assert_eq!(refused(Operation::Get, json!({"ids": [1]})), "invalid_ids");
    // An update that does not touch metadata keeps the record's stamp.
    let v = run(
        &config(),
        Operation::Update,
        json!({"ids": ["sre/s1/a"], "documents": ["new"]}),
    )
    .unwrap();
    assert!(v.get("metadatas").is_none());
}

#[test]
fn deletes_are_confined_and_never_unbounded() {
    assert_eq!(
        reason(run(&config(), Operation::Delete, json!({}))),
        "unbounded_delete"
    );
    assert_eq!(
        reason(run(
            &config(),
            Operation::Delete,
            json!({"ids": null, "where": null})
        )),
        "unbounded_delete"
    );
    let v = run(
        &config(),
        Operation::Delete,
        json!({"where": {"topic": "old"}}),
    )
    .unwrap();
    assert_eq!(v["where"], json!({"$and": [team_eq(), {"topic": "old"}]}));
    let v = run(&config(), Operation::Delete, json!({"ids": ["sre/s1/a"]})).unwrap();
    assert_eq!(v["where"], team_eq());
    assert_eq!(
        reason(run(
            &config(),
            Operation::Delete,
            json!({"where": {"team": {"$ne": "sre"}}})
        )),
        "tenant_operator"
    );
}

#[test]
fn identity_must_be_present_and_plain() {
    let c = config();
    let body = br#"{}"#;
    let mut caller = sre();
    caller.session = None;
    let d = rewrite_body(&c, &caller, Operation::Get, body).unwrap_err();
    assert_eq!((d.status, d.reason.as_ref()), (401, "missing_identity"));
    for team in ["sre/s1", "sre*", "s re", "sre\n", "é"] {
        let caller = Caller {
            team: Some(team.into()),
            ..sre()
        };
        let d = rewrite_body(&c, &caller, Operation::Get, body).unwrap_err();
        assert_eq!(d.reason, "invalid_identity", "{team:?}");
    }
    assert_eq!(d_control(&c), "MCP-11");
}

fn d_control(c: &Config) -> &'static str {
    let caller = Caller::default();
    rewrite_body(c, &caller, Operation::Get, b"{}")
        .unwrap_err()
        .control
        .as_str()
}

#[test]
fn routes_are_known_allowed_and_plain() {
    let c = config();
    let ok = |m, p: &str| classify(&c, m, p).unwrap();
    assert_eq!(
        ok("POST", &format!("{COLL}/3f2a-9b/query")),
        Operation::Query
    );
    assert_eq!(
        ok("POST", &format!("{COLL}/3f2a/delete")),
        Operation::Delete
    );
    let refused = |c: &Config, m, p: &str| classify(c, m, p).unwrap_err().reason.into_owned();
    // Admin and unknown routes, wrong methods, other databases.
    assert_eq!(
        refused(&c, "DELETE", &format!("{COLL}/mem")),
        "operation_not_allowed"
    );
    assert_eq!(refused(&c, "POST", COLL), "operation_not_allowed");
    assert_eq!(
        refused(&c, "GET", &format!("{COLL}/x/count")),
        "operation_not_allowed"
    );
    assert_eq!(refused(&c, "POST", "/api/v2/reset"), "route_not_allowed");
    assert_eq!(refused(&c, "POST", "/api/v2/tenants"), "route_not_allowed");
    assert_eq!(
        refused(&c, "POST", "/api/v2/tenants/default_tenant/databases"),
        "route_not_allowed"
    );
    assert_eq!(
        refused(&c, "POST", &format!("{COLL}/x/search")),
        "route_not_allowed"
    );
    assert_eq!(
        refused(&c, "POST", &format!("{COLL}/x/fork")),
        "route_not_allowed"
    );
    assert_eq!(
        refused(&c, "GET", &format!("{COLL}/x/query")),
        "route_not_allowed"
    );
    assert_eq!(
        refused(&c, "POST", "/api/v1/collections/x/query"),
        "route_not_allowed"
    );
    assert_eq!(
        refused(
            &c,
            "POST",
            "/api/v2/tenants/other/databases/default_database/collections/x/get"
        ),
        "database_not_allowed"
    );
    // Paths another router might read differently.
    for p in [
        format!("{COLL}/x/%71uery"),
        format!("{COLL}//x/query"),
        format!("{COLL}/./x/query"),
        format!("{COLL}/../x/query"),
        format!("{COLL}/x/query/"),
    ] {
        assert_eq!(refused(&c, "POST", &p), "unusual_path", "{p}");
    }
    assert_eq!(
        refused(&c, "POST", &format!("{COLL}/x/query?tenant=x")),
        "route_not_allowed"
    );
    // Configured admin operations are allowed.
    let admin = config_with(
        json!({"operations": ["get_collection", "create_collection", "list_collections", "query"]}),
    );
    assert_eq!(
        classify(&admin, "GET", &format!("{COLL}/memories")).unwrap(),
        Operation::GetCollection
    );
    assert_eq!(
        classify(&admin, "GET", &format!("{COLL}?limit=10")).unwrap(),
        Operation::ListCollections
    );
    assert_eq!(
        refused(&admin, "POST", &format!("{COLL}/x/get")),
        "operation_not_allowed"
    );
}

#[test]
fn bad_config_is_refused_naming_the_field() {
    let field = |c: Value| parse::<Config>(c.to_string().as_bytes()).unwrap_err().field;
    assert_eq!(field(json!({"id_prefix": "{session}/"})), "id_prefix");
    assert_eq!(field(json!({"id_prefix": "{team}"})), "id_prefix");
    assert_eq!(
        field(json!({"id_prefix": "{team}-{session}/"})),
        "id_prefix"
    );
    assert_eq!(field(json!({"id_prefix": "{team}/{tenant}/"})), "id_prefix");
    assert_eq!(
        field(json!({"id_prefix": "{team}/", "confine_to_session": true})),
        "id_prefix"
    );
    assert_eq!(
        field(json!({"metadata_keys": {"team": "$team"}})),
        "metadata_keys.team"
    );
    assert_eq!(
        field(json!({"metadata_keys": {"session": "TEAM"}})),
        "metadata_keys.session"
    );
    assert_eq!(
        field(json!({"metadata_keys": {"user": ""}})),
        "metadata_keys.user"
    );
    assert_eq!(field(json!({"operations": []})), "operations");
    assert_eq!(field(json!({"operations": ["reset"]})), "operations[0]");
    assert_eq!(field(json!({"chroma": {"tenant": "a/b"}})), "chroma.tenant");
    assert_eq!(field(json!({"bogus": 1})), "bogus");
    assert_eq!(
        field(json!({"body": {"allow_uninspectable": true}})),
        "body.allow_uninspectable"
    );
    assert!(parse::<Config>(br#"{"id_prefix": "mem:{team}:{user}/"}"#).is_ok());
}
