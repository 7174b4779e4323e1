//! HTTP routes of the approval service.

use crate::auth::Authenticator;
use crate::store::{Entry, RedeemError, StoreError};
use crate::{now, page, random_id, slack, App};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use meshguard_core::approval_gate::{
    token, ApprovalRequest, ApprovalState, ApprovalTicket, RedeemAnswer, RedeemRequest,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest request body accepted (an approval request is well under 8 KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/approvals", post(create))
        .route("/v1/approvals/{id}", get(poll))
        .route("/v1/approvals/{id}/{decision}", post(decide))
        .route("/v1/redeem", post(redeem))
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

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound => error(StatusCode::NOT_FOUND, "unknown_approval"),
        StoreError::AlreadyDecided(_) => error(StatusCode::CONFLICT, "already_decided"),
        StoreError::Full => error(StatusCode::SERVICE_UNAVAILABLE, "too_many_pending"),
        StoreError::Backend(e) => {
            eprintln!("approval store failed: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        }
    }
}

async fn index(State(app): State<Arc<App>>) -> Response {
    if let Err(e) = app
        .store
        .expire(now(), app.settings.pending_ttl_seconds)
        .await
    {
        return store_error(e);
    }
    match app.store.newest_first(200).await {
        Ok(entries) => Html(page::render(&entries)).into_response(),
        Err(e) => store_error(e),
    }
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
        &request.server,
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
        used: false,
    };
    if let Err(e) = app.store.insert(&entry).await {
        return store_error(e);
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
    if let Err(e) = app
        .store
        .expire(now(), app.settings.pending_ttl_seconds)
        .await
    {
        return store_error(e);
    }
    match app.store.get(&id).await {
        Ok(Some(e)) => json_response(StatusCode::OK, json!(e.status())),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_approval"),
        Err(e) => store_error(e),
    }
}

/// Approve or deny: from the page (form, answered with a redirect back) or the API (JSON).
/// The approver is the verified identity of the token presented (bearer header, or the
/// form's `id_token`); any name the client states (`x-forwarded-user`, an `approver` field)
/// is ignored.
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
    let t = now();
    if let Err(e) = app.store.expire(t, app.settings.pending_ttl_seconds).await {
        return store_error(e);
    }
    let entry = match app.store.get(&id).await {
        Ok(Some(e)) if e.status == ApprovalState::Pending => e,
        Ok(Some(_)) => return error(StatusCode::CONFLICT, "already_decided"),
        Ok(None) => return error(StatusCode::NOT_FOUND, "unknown_approval"),
        Err(e) => return store_error(e),
    };
    let presented = Authenticator::token_of(&headers, is_form.then_some(&body[..]));
    // Separation of duties applies to approving; anyone with the role may deny.
    let requester = approve.then_some(entry.request.user.as_str());
    let approver = match app.auth.approver(presented.as_deref(), requester).await {
        Ok(a) => a.name,
        Err(e) => {
            println!(
                "approval {id} {} refused: {}",
                if approve { "approve" } else { "deny" },
                e.reason()
            );
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN);
            return error(status, e.reason());
        }
    };
    let result = record(&app, &entry, approve, &approver, t).await;
    match (result, is_form) {
        (Ok(_), true) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
        (Ok(status), false) => json_response(StatusCode::OK, status),
        (Err(e), _) => store_error(e),
    }
}

async fn record(
    app: &Arc<App>,
    entry: &Entry,
    approve: bool,
    approver: &str,
    t: u64,
) -> Result<Value, StoreError> {
    let id = &entry.id;
    let mut decided = entry.clone();
    if approve {
        let s = &app.settings;
        let jti = random_id("");
        if jti.is_empty() {
            return Err(StoreError::Backend("no randomness".into()));
        }
        let minted = token::mint(
            &app.minter,
            &entry.request,
            approver,
            &s.audience,
            s.token_ttl_seconds,
            t,
            &jti,
        )
        .map_err(|e| StoreError::Backend(format!("signing failed: {e:?}")))?;
        app.store
            .decide(
                id,
                ApprovalState::Approved,
                approver,
                Some((&minted.token, &jti)),
                t,
            )
            .await?;
        decided.token = Some(minted.token);
        decided.status = ApprovalState::Approved;
    } else {
        app.store
            .decide(id, ApprovalState::Denied, approver, None, t)
            .await?;
        decided.status = ApprovalState::Denied;
    }
    decided.approver = Some(approver.to_string());
    println!(
        "approval {id} {} by {approver} (verified): user={} tool={}",
        if approve { "approved" } else { "denied" },
        entry.request.user,
        entry.request.tool
    );
    Ok(json!(decided.status()))
}

/// The gate consumes an approval for the call it is about to forward: once, atomically,
/// across every replica sharing the store. 200 with the recorded approver, 409 when used
/// already or for another call, 404 when unknown, 503 when the store failed.
async fn redeem(State(app): State<Arc<App>>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    }
    let Ok(request) = serde_json::from_slice::<RedeemRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_redeem_request");
    };
    if !request.complete() {
        return error(StatusCode::BAD_REQUEST, "invalid_redeem_request");
    }
    match app.store.redeem(&request, now()).await {
        Ok((approval_id, approver)) => {
            println!(
                "approval {approval_id} redeemed: user={} tool={} approver={approver}",
                request.user, request.tool
            );
            json_response(
                StatusCode::OK,
                json!(RedeemAnswer {
                    approval_id,
                    approver
                }),
            )
        }
        Err(RedeemError::Used) => error(StatusCode::CONFLICT, "approval_replayed"),
        Err(RedeemError::Mismatch) => error(StatusCode::CONFLICT, "approval_mismatch"),
        Err(RedeemError::Unknown) => error(StatusCode::NOT_FOUND, "unknown_approval"),
        Err(RedeemError::Backend(e)) => {
            eprintln!("approval store failed on redeem: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        }
    }
}
