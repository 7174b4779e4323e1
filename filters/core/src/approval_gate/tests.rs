//! Adversarial tests of the approval gate: binding to user, session, tool, server and the
//! exact arguments; forged, expired, `alg: none` and foreign-key tokens; fail-closed inputs.

use super::*;
use crate::config::parse;
use crate::jwt::{Algorithm, Minter, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::ES256KeyPair;

const NOW: u64 = 1_700_000_000;
const SERVER: &str = "/tools/mcp-github/mcp";

fn minter(kid: &str) -> Minter {
    let pem = ES256KeyPair::generate().to_pem().unwrap_or_default();
    let key = SigningKey::from_pem(kid, Algorithm::ES256, &pem).expect("key");
    Minter::new("meshguard-approval", vec![key], kid).expect("minter")
}

fn gate(m: &Minter) -> Gate {
    let config = json!({
        "webhook": {"cluster": "approval", "authority": "approval.test"},
        "tokens": {"issuer": "meshguard-approval", "audiences": ["meshguard-gateway"],
                   "algorithms": ["ES256"], "jwks": {"inline": m.public_jwks()}},
        "max_token_age_seconds": 120,
    });
    let config: Config = parse(config.to_string().as_bytes()).expect("config");
    Gate::new(config).expect("gate")
}

fn info(class: &str) -> RequestInfo {
    RequestInfo {
        class: Some(class.into()),
        user: Some("alice".into()),
        team: Some("sre".into()),
        session: Some("sess-1".into()),
        agent: Some("sre-agent".into()),
        tool: None,
        server: SERVER.into(),
        header_token: None,
    }
}

fn call(args: Value, token: Option<&str>) -> Vec<u8> {
    let mut params = json!({"name": "delete_repo", "arguments": args});
    if let Some(t) = token {
        params["_meta"] = json!({ META_KEY: t, "progressToken": 7 });
    }
    json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params})
        .to_string()
        .into_bytes()
}

fn ask(g: &Gate, args: Value) -> ApprovalRequest {
    match g.judge(&call(args, None), &info("delete"), NOW) {
        Decision::Ask(a) => {
            assert_eq!(a.id, json!(9));
            a.request
        }
        other => panic!("expected ask, got {other:?}"),
    }
}

fn approve(m: &Minter, req: &ApprovalRequest, now: u64, ttl: u64) -> String {
    token::mint(m, req, "carol", "meshguard-gateway", ttl, now, "jti-1")
        .expect("mint")
        .token
}

fn reason(d: Decision) -> String {
    match d {
        Decision::Deny(d) => d.reason.to_string(),
        other => panic!("expected deny, got {other:?}"),
    }
}

#[test]
fn approved_call_with_reordered_arguments_goes_through_without_the_token() {
    let m = minter("ap1");
    let g = gate(&m);
    let req = ask(&g, json!({"repo": "org/api", "force": true}));
    assert_eq!(req.user, "alice");
    assert_eq!(req.session, "sess-1");
    assert_eq!(req.class, ToolClass::Delete);
    let t = approve(&m, &req, NOW, 120);
    let body = call(json!({"force": true, "repo": "org/api"}), Some(&t));
    match g.judge(&body, &info("delete"), NOW + 5) {
        Decision::Approved(a) => {
            assert_eq!(a.approval.extra.approver, "carol");
            assert_eq!(a.approval.claims.jti.as_deref(), Some("jti-1"));
            assert_eq!(a.id, json!(9));
            let fwd: Value = serde_json::from_slice(&a.body).unwrap_or_default();
            assert_eq!(fwd["params"]["arguments"]["repo"], "org/api");
            assert_eq!(fwd["params"]["_meta"], json!({"progressToken": 7}));
            assert!(!String::from_utf8_lossy(&a.body).contains(&t));
            // What the gate redeems at the service: the token's jti bound to this call.
            assert_eq!(a.redeem.jti, "jti-1");
            assert_eq!(a.redeem.user, "alice");
            assert_eq!(a.redeem.session, "sess-1");
            assert_eq!(a.redeem.tool, req.tool);
            assert_eq!(a.redeem.server, req.server);
            assert_eq!(a.redeem.args_sha256, req.args_sha256);
            assert!(a.redeem.complete());
        }
        other => panic!("{other:?}"),
    }
    // The header carries it as well.
    let mut with_header = info("delete");
    with_header.header_token = Some(t.clone());
    let body = call(json!({"repo": "org/api", "force": true}), None);
    assert!(matches!(
        g.judge(&body, &with_header, NOW + 5),
        Decision::Approved(_)
    ));
}

#[test]
fn one_changed_argument_or_other_binding_is_a_mismatch() {
    let m = minter("ap1");
    let g = gate(&m);
    let req = ask(&g, json!({"repo": "org/api"}));
    let t = approve(&m, &req, NOW, 120);
    let changed = call(json!({"repo": "org/api2"}), Some(&t));
    let d = g.judge(&changed, &info("delete"), NOW);
    match &d {
        Decision::Deny(d) => {
            assert_eq!(d.reason, "approval_mismatch");
            assert_eq!(d.data["mismatch"], "arguments");
            assert_eq!(d.control.as_str(), "HITL");
        }
        other => panic!("{other:?}"),
    }
    let body = call(json!({"repo": "org/api"}), Some(&t));
    for (field, mutate) in [
        (
            "user",
            Box::new(|i: &mut RequestInfo| i.user = Some("mallory".into()))
                as Box<dyn Fn(&mut RequestInfo)>,
        ),
        (
            "session",
            Box::new(|i: &mut RequestInfo| i.session = Some("sess-2".into())),
        ),
        (
            "server",
            Box::new(|i: &mut RequestInfo| i.server = "/tools/mcp-payroll/mcp".into()),
        ),
    ] {
        let mut i = info("delete");
        mutate(&mut i);
        match g.judge(&body, &i, NOW) {
            Decision::Deny(d) => assert_eq!(d.data["mismatch"], field, "{field}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    // Same arguments, another tool.
    let other_tool = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "create_issue", "arguments": {"repo": "org/api"}, "_meta": {META_KEY: t}}});
    match g.judge(other_tool.to_string().as_bytes(), &info("write"), NOW) {
        Decision::Deny(d) => assert_eq!(d.data["mismatch"], "tool"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn expired_old_forged_and_foreign_tokens_are_refused() {
    let m = minter("ap1");
    let g = gate(&m);
    let req = ask(&g, json!({"repo": "org/api"}));
    let args = json!({"repo": "org/api"});
    // Expired (exp + skew passed).
    let t = approve(&m, &req, NOW, 60);
    assert_eq!(
        reason(g.judge(&call(args.clone(), Some(&t)), &info("delete"), NOW + 200)),
        "approval_expired"
    );
    // Long-lived but older than max_token_age_seconds.
    let t = approve(&m, &req, NOW, 3600);
    assert_eq!(
        reason(g.judge(&call(args.clone(), Some(&t)), &info("delete"), NOW + 500)),
        "approval_expired"
    );
    // Signed by another key with the same kid.
    let other = minter("ap1");
    let t = approve(&other, &req, NOW, 60);
    let d = g.judge(&call(args.clone(), Some(&t)), &info("delete"), NOW);
    match d {
        Decision::Deny(d) => {
            assert_eq!(d.reason, "approval_invalid");
            assert_eq!(d.data["detail"], "bad_signature");
        }
        other => panic!("{other:?}"),
    }
    // alg none with the right claims.
    let good = approve(&m, &req, NOW, 60);
    let payload = good.split('.').nth(1).unwrap_or_default();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{header}.{payload}.");
    assert_eq!(
        reason(g.judge(&call(args.clone(), Some(&none)), &info("delete"), NOW)),
        "approval_invalid"
    );
    // Payload swapped under a valid signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(
        String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
            .replace("carol", "admin"),
    );
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        reason(g.judge(&call(args.clone(), Some(&forged)), &info("delete"), NOW)),
        "approval_invalid"
    );
    // Another audience (a token minted for something else).
    let t = token::mint(&m, &req, "carol", "mcp-github", 60, NOW, "j")
        .map(|x| x.token)
        .unwrap_or_default();
    assert_eq!(
        reason(g.judge(&call(args, Some(&t)), &info("delete"), NOW)),
        "approval_invalid"
    );
}

#[test]
fn read_class_and_other_methods_pass_untouched() {
    let g = gate(&minter("ap1"));
    assert_eq!(
        g.judge(&call(json!({}), None), &info("read"), NOW),
        Decision::Pass
    );
    let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(g.judge(list, &RequestInfo::default(), NOW), Decision::Pass);
}

#[test]
fn missing_headers_batches_and_bad_tokens_fail_closed() {
    let g = gate(&minter("ap1"));
    let body = call(json!({"repo": "x"}), None);
    assert_eq!(
        reason(
            g.judge(
                &body,
                &RequestInfo {
                    server: SERVER.into(),
                    ..info("delete")
                }
                .without_class(),
                NOW
            )
        ),
        "missing_tool_class"
    );
    assert_eq!(
        reason(g.judge(&body, &info("Delete"), NOW)),
        "unknown_tool_class"
    );
    let mut i = info("delete");
    i.session = None;
    assert_eq!(reason(g.judge(&body, &i, NOW)), "missing_identity");
    let mut i = info("delete");
    i.user = Some(" ".into());
    assert_eq!(reason(g.judge(&body, &i, NOW)), "missing_identity");
    let mut i = info("delete");
    i.tool = Some("get_issue".into());
    assert_eq!(reason(g.judge(&body, &i, NOW)), "tool_mismatch");
    let batch = format!(
        "[{},{}]",
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        reason(g.judge(batch.as_bytes(), &info("delete"), NOW)),
        "approval_batch"
    );
    let bad_meta = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "delete_repo", "_meta": {META_KEY: 5}}});
    assert_eq!(
        reason(g.judge(bad_meta.to_string().as_bytes(), &info("delete"), NOW)),
        "approval_malformed"
    );
    let mut i = info("delete");
    i.header_token = Some("a.b.c".into());
    assert_eq!(
        reason(g.judge(&call(json!({}), Some("x.y.z")), &i, NOW)),
        "approval_ambiguous"
    );
    assert_eq!(
        reason(g.judge(b"{not json", &info("delete"), NOW)),
        "invalid_json"
    );
    assert_eq!(
        reason(g.judge(&call(json!({}), Some("junk")), &info("delete"), NOW)),
        "approval_invalid"
    );
}

#[test]
fn ask_carries_a_scrubbed_truncated_preview() {
    let g = gate(&minter("ap1"));
    let req = ask(
        &g,
        json!({"note": "mail bob@example.com", "key": "ghp_R8x2Lq9ZtVw4Kp7Yh3Nm6Jc1Bd5Fg0Se2Ua", "pad": "x".repeat(2000)}),
    );
    assert!(
        !req.arguments_preview.contains("bob@example.com"),
        "{}",
        req.arguments_preview
    );
    assert!(!req
        .arguments_preview
        .contains("ghp_R8x2Lq9ZtVw4Kp7Yh3Nm6Jc1Bd5Fg0Se2Ua"));
    assert!(req.arguments_preview.len() <= 512 + 3);
    assert_eq!(req.args_sha256.len(), 64);
    let body: Value = serde_json::from_slice(&Gate::webhook_body(&Ask {
        request: req,
        id: Value::Null,
    }))
    .unwrap_or_default();
    assert_eq!(body["tool"], "delete_repo");
    assert_eq!(body["class"], "delete");
}

#[test]
fn pending_and_unavailable_denials() {
    let ticket = ApprovalTicket {
        approval_id: "ap_1".into(),
        poll: "http://x/v1/approvals/ap_1".into(),
    };
    let d = pending(&ticket, json!(3));
    let v = d.to_jsonrpc();
    assert_eq!(v["id"], 3);
    assert_eq!(v["error"]["data"]["control"], "HITL");
    assert_eq!(v["error"]["data"]["reason"], "approval_pending");
    assert_eq!(v["error"]["data"]["approval_id"], "ap_1");
    assert_eq!(unavailable(json!(3)).status, 503);
}

#[test]
fn config_is_strict() {
    let m = minter("ap1");
    let base = json!({
        "webhook": {"cluster": "approval", "authority": "a"},
        "tokens": {"issuer": "i", "audiences": ["g"], "algorithms": ["ES256"], "jwks": {"inline": m.public_jwks()}},
    });
    assert!(parse::<Config>(base.to_string().as_bytes()).is_ok());
    let cases = [
        ("/classes", json!([]), "classes"),
        ("/classes", json!(["execute"]), "classes[0]"),
        ("/webhook/timeout_ms", json!(10), "webhook.timeout_ms"),
        ("/webhook/path", json!("v1"), "webhook.path"),
        (
            "/token_header",
            json!("x-meshguard-approval"),
            "token_header",
        ),
        (
            "/body",
            json!({"allow_uninspectable": true}),
            "body.allow_uninspectable",
        ),
        (
            "/tokens/jwks",
            json!({"remote": {"uri": "http://a/jwks", "cluster": "a"}}),
            "tokens.jwks",
        ),
        ("/redeem", json!({"path": "v1/redeem"}), "redeem.path"),
        ("/redeem", json!({"timeout_ms": 5}), "redeem.timeout_ms"),
        ("/redeem", json!({"cluster": "elsewhere"}), ""),
        ("/bogus", json!(1), ""),
    ];
    for (path, value, field) in cases {
        let mut c = base.clone();
        let (parent, key) = path.rsplit_once('/').unwrap_or_default();
        let target = if parent.is_empty() {
            &mut c
        } else {
            c.pointer_mut(parent).expect("parent")
        };
        target[key] = value;
        let e = parse::<Config>(c.to_string().as_bytes()).expect_err(path);
        if !field.is_empty() {
            assert_eq!(e.field, field, "{path}: {e}");
        }
    }
}

impl RequestInfo {
    fn without_class(mut self) -> Self {
        self.class = None;
        self
    }
}

#[test]
fn an_approval_is_single_use_and_extras_cannot_override_claims() {
    use crate::jwt::{replay_shared, MintError, MintRequest};
    let m = minter("ap1");
    let g = gate(&m);
    let req = ask(&g, json!({"repo": "org/api"}));
    let t = approve(&m, &req, NOW, 120);
    let approval = match g.judge(
        &call(json!({"repo": "org/api"}), Some(&t)),
        &info("delete"),
        NOW,
    ) {
        Decision::Approved(a) => a.approval,
        other => panic!("{other:?}"),
    };
    // The per-proxy replay record still works for a jti (the token verifiers use it); the
    // gate's single use is the service's redemption (examples/approval-service/tests).
    let iss = approval.claims.iss.clone().unwrap_or_default();
    let jti = approval.claims.jti.clone().unwrap_or_default();
    let until = approval.claims.exp.unwrap_or(0) + 60;
    let (_, id) = replay_shared::locate(&iss, &jti);
    let bucket = replay_shared::record("", &id, until, NOW).expect("first use");
    assert_eq!(
        replay_shared::record(&bucket, &id, until, NOW + 1).map_err(|e| e.reason()),
        Err("token_replayed")
    );
    // An extra claim may not replace sub (or any registered/meshguard claim).
    let mut extra = Map::new();
    extra.insert("sub".into(), json!("mallory"));
    let base = MintRequest {
        subject: "alice".into(),
        audience: "meshguard-gateway".into(),
        ttl_seconds: 60,
        ..MintRequest::default()
    };
    assert_eq!(
        m.mint_with(&base, &extra, NOW, "j").map(|_| ()),
        Err(MintError::ReservedClaim("sub".into()))
    );
}
