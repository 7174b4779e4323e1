//! A JSON-RPC-over-HTTP client for MCP's Streamable HTTP transport, low-level on purpose:
//! tests must see exact statuses, headers and bytes (the official `rmcp` client is used
//! where the point is interoperability).

use meshguard_core::mcp::{SseEvent, SseParser};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The MCP protocol version the tests speak.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// An HTTP reply, fully read, with when each body chunk arrived.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// (time since the request was sent, chunk) in arrival order.
    pub chunks: Vec<(Duration, Vec<u8>)>,
}

impl Reply {
    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The SSE events of the body (complete events only).
    pub fn sse_events(&self) -> Vec<SseEvent> {
        let mut parser = SseParser::new(usize::MAX);
        parser.push(&self.body).unwrap_or_default()
    }

    /// Every JSON-RPC message in the reply, whether it came as JSON or as SSE events.
    pub fn messages(&self) -> Vec<Value> {
        let is_sse = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if !is_sse {
            return match self.json() {
                Value::Array(items) => items,
                other => vec![other],
            };
        }
        self.sse_events()
            .iter()
            .filter_map(|e| e.data.as_deref())
            .filter(|d| !d.is_empty())
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    }

    /// The final JSON-RPC response (the message carrying `result` or `error`).
    pub fn response(&self) -> Value {
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in: {}", self.text()))
    }

    /// `error.data.reason` of a meshguard denial (None for anything else, e.g. Envoy's own
    /// plain-text RBAC answer).
    pub fn denial_reason(&self) -> Option<String> {
        let reason = |v: &Value| v["error"]["data"]["reason"].as_str().map(str::to_string);
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            return reason(&v);
        }
        self.sse_events()
            .iter()
            .rev()
            .filter_map(|e| serde_json::from_str::<Value>(e.data.as_deref()?).ok())
            .find_map(|v| reason(&v))
    }
}

/// Posts JSON-RPC to one MCP endpoint.
#[derive(Clone)]
pub struct McpClient {
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
}

impl McpClient {
    /// A client for `url` (e.g. `http://127.0.0.1:port/mcp`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            url: url.into(),
            headers: Vec::new(),
        }
    }

    /// Send this header with every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// POST a JSON-RPC body (any bytes) with extra headers; reads the whole reply.
    pub async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Body::from(body), headers).await
    }

    /// POST a body as a stream of `chunk`-byte pieces, with no `content-length`, as a
    /// client that hides a body's size would.
    pub async fn post_chunked(&self, body: Vec<u8>, chunk: usize) -> Reply {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(chunk.max(1)).map(|c| Ok(c.to_vec())).collect();
        let stream = tokio_stream::iter(pieces);
        self.send(reqwest::Body::wrap_stream(stream), &[]).await
    }

    /// POST a JSON-RPC value, returning the transport error instead of panicking: for tests
    /// where the connection itself must be refused (a plaintext client against mTLS).
    pub async fn try_post(&self, body: &Value) -> Result<Reply, reqwest::Error> {
        self.try_send(reqwest::Body::from(body.to_string()), &[])
            .await
    }

    async fn send(&self, body: reqwest::Body, headers: &[(&str, &str)]) -> Reply {
        self.try_send(body, headers).await.expect("request failed")
    }

    async fn try_send(
        &self,
        body: reqwest::Body,
        headers: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let started = Instant::now();
        let mut resp = req.body(body).send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut chunks = Vec::new();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            body.extend_from_slice(&chunk);
            chunks.push((started.elapsed(), chunk.to_vec()));
        }
        Ok(Reply {
            status,
            headers,
            body,
            chunks,
        })
    }

    /// POST a JSON-RPC value.
    pub async fn post(&self, body: &Value) -> Reply {
        self.post_raw(body.to_string().into_bytes(), &[]).await
    }

    /// `tools/call` of `name` with `arguments`, id 1.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Reply {
        self.post(&tool_call(1, name, arguments)).await
    }
}

/// A `tools/call` request body.
pub fn tool_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

/// Poll `ready` every 2 ms for up to 10 s; whether it became true (for a counter or a state
/// a test waits on while a request is in flight).
pub async fn wait_until(ready: impl Fn() -> bool) -> bool {
    for _ in 0..5000 {
        if ready() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}
