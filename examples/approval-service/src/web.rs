//! HTTP routes of the approval service.

use crate::store::{Entry, StoreError};
use crate::{now, page, random_id, slack, App};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use meshguard_core::approval::{token, ApprovalRequest, ApprovalState, ApprovalTicket};
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest request body accepted (an approval request is well under 8 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Header an authenticating proxy in front of the page sets to the signed-in person.
pub const APPROVER_HEADER: &str = "x-forwarded-user";

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/approvals", post(create))
        .route("/v1/approvals/{id}", get(poll))
        .route("/v1/approvals/{id}/{decision}", post(decide))
        .with_state(app)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, reason: &str) -> Response {
    json_response(status, json!({ "error": reason }))
}

async fn index(State(app): State<Arc<App>>) -> Html<String> {
    let mut store = app.store.lock().await;
    store.expire(now(), app.settings.pending_ttl_seconds);
    Html(page::render(&store.newest_first()))
}

async fn jwks(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.minter.public_jwks(),
    )
        .into_response()
}

/// The webhook: store the request pending, notify, answer the id and poll URL.
async fn create(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    }
    let Ok(request) = serde_json::from_slice::<ApprovalRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_approval_request");
    };
    if [
        &request.user,
        &request.session,
        &request.tool,
        &request.args_sha256,
    ]
    .iter()
    .any(|f| f.trim().is_empty())
    {
        return error(StatusCode::BAD_REQUEST, "invalid_approval_request");
    }
    let id = random_id("ap_");
    if id.is_empty() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no_randomness");
    }
    let entry = Entry {
        id: id.clone(),
        request: request.clone(),
        created: now(),
        status: ApprovalState::Pending,
        approver: None,
        token: None,
        decided: None,
    };
    if app.store.lock().await.insert(entry).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "too_many_pending");
    }
    notify(&app, &id, &request);
    let ticket = ApprovalTicket {
        approval_id: id.clone(),
        poll: format!("{}/v1/approvals/{id}", app.settings.public_url),
    };
    json_response(StatusCode::CREATED, json!(ticket))
}

/// Log the Block Kit message and post it to Slack when configured (never blocks the webhook).
fn notify(app: &Arc<App>, id: &str, request: &ApprovalRequest) {
    let message = slack::message(id, request, &app.settings.public_url);
    println!("approval {id} pending: {message}");
    if let Some(url) = app.settings.slack_webhook_url.clone() {
        let http = app.http.clone();
        tokio::spawn(async move {
            match http.post(&url).json(&message).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("slack webhook answered {}", r.status()),
                Err(e) => eprintln!("slack webhook failed: {e}"),
            }
        });
    }
}

async fn poll(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let mut store = app.store.lock().await;
    store.expire(now(), app.settings.pending_ttl_seconds);
    match store.get(&id) {
        Some(e) => json_response(StatusCode::OK, json!(e.status())),
        None => error(StatusCode::NOT_FOUND, "unknown_approval"),
    }
}

/// Approve or deny: from the page (form, answered with a redirect back) or the API (JSON).
async fn decide(
    State(app): State<Arc<App>>,
    Path((id, decision)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return error(StatusCode::NOT_FOUND, "unknown_decision"),
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let Some(approver) = approver(&headers, &body, is_form) else {
        return error(StatusCode::BAD_REQUEST, "approver_required");
    };
    let result = record(&app, &id, approve, &approver).await;
    match (result, is_form) {
        (Ok(_), true) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
        (Ok(status), false) => json_response(StatusCode::OK, status),
        (Err(StoreError::NotFound), _) => error(StatusCode::NOT_FOUND, "unknown_approval"),
        (Err(StoreError::AlreadyDecided(_)), _) => error(StatusCode::CONFLICT, "already_decided"),
        (Err(StoreError::Full), _) => error(StatusCode::SERVICE_UNAVAILABLE, "signing_failed"),
    }
}

async fn record(
    app: &Arc<App>,
    id: &str,
    approve: bool,
    approver: &str,
) -> Result<Value, StoreError> {
    let t = now();
    let mut store = app.store.lock().await;
    store.expire(t, app.settings.pending_ttl_seconds);
    let entry = store.pending_mut(id)?;
    if approve {
        let s = &app.settings;
        let jti = random_id("");
        let minted = token::mint(
            &app.minter,
            &entry.request,
            approver,
            &s.audience,
            s.token_ttl_seconds,
            t,
            &jti,
        )
        .map_err(|_| StoreError::Full)?;
        entry.token = Some(minted.token);
        entry.status = ApprovalState::Approved;
    } else {
        entry.status = ApprovalState::Denied;
    }
    entry.approver = Some(approver.to_string());
    entry.decided = Some(t);
    println!(
        "approval {id} {} by {approver}: user={} tool={}",
        if approve { "approved" } else { "denied" },
        entry.request.user,
        entry.request.tool
    );
    Ok(json!(entry.status()))
}

/// The person deciding: the authenticating proxy's header when present, else the form or
/// JSON field `approver`. Names are short and plain so they log and display safely.
fn approver(headers: &HeaderMap, body: &[u8], is_form: bool) -> Option<String> {
    let from_header = headers
        .get(APPROVER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_body = || -> Option<String> {
        if is_form {
            form_urlencoded::parse(body)
                .find(|(k, _)| k == "approver")
                .map(|(_, v)| v.into_owned())
        } else {
            serde_json::from_slice::<Value>(body)
                .ok()?
                .get("approver")?
                .as_str()
                .map(str::to_string)
        }
    };
    let name = from_header.or_else(from_body)?.trim().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "._@-".contains(c);
    (!name.is_empty() && name.len() <= 64 && name.chars().all(plain)).then_some(name)
}
