//! meshguard's rate limit service: Envoy's `envoy.service.ratelimit.v3.RateLimitService`
//! (`ShouldRateLimit`, gRPC) in front of Kuadrant's `limitador` engine with its Redis storage.
//!
//! Envoy's native `ratelimit` filter sends the descriptors tool-policy's `x-meshguard-rl-*`
//! headers produce (`class`, `user`, `team`, `agent`); every gateway replica asks the same
//! service, every service replica counts in the same Redis, so "1 delete per user per 10
//! minutes" holds across replicas and restarts of either.
//!
//! Exactness: each descriptor is admitted with limitador's `reserve` (one Lua script checks
//! the counter plus outstanding holds and holds the hit, atomically in Redis) and then
//! committed, so concurrent calls at several replicas never both take the last token
//! (limitador's `check_rate_limited_and_update` reads, then writes, and may overshoot under
//! concurrency). A request with several descriptors is admitted only if all are: holds taken
//! for earlier descriptors are released without counting when a later one is over its limit.
//!
//! Failure: a Redis error answers gRPC `UNAVAILABLE`, a request for another domain
//! `INVALID_ARGUMENT`; Envoy's filter then applies its `failure_mode_deny`.

pub mod config;

/// Descriptor messages (`RateLimitDescriptor`, its `Entry`).
pub use envoy_types::pb::envoy::extensions::common::ratelimit::v3 as descriptor;
/// Envoy's rate limit service messages (`RateLimitRequest`, `RateLimitResponse`, ...).
pub use envoy_types::pb::envoy::service::ratelimit::v3 as rls;
/// The gRPC crate the service is built on (its `Status` and `Code`).
pub use tonic;

use config::{Config, LimitSpec};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{Code, DescriptorStatus};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use limitador::limit::{Context, Expression, Limit, Namespace, Predicate};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::storage::AsyncStorage;
use limitador::{AsyncRateLimiter, AsyncRateLimiterBuilder};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// Most hits one request may add (Envoy sends 1 unless `hits_addend` says otherwise).
pub const MAX_HITS: u64 = 1_000;
/// How long a hold may outlive a crashed service before Redis forgets it.
const HOLD_TTL: Duration = Duration::from_secs(10);

/// Why the service could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration (names the field).
    Config(config::ConfigError),
    /// Redis unreachable or refusing limitador's scripts.
    Storage(String),
    /// The listener.
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Storage(e) => write!(f, "rate limit storage: {e}"),
            StartError::Io(e) => write!(f, "rate limit listener: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The limitador limits a configuration defines (namespace = the domain).
pub fn limits(config: &Config) -> Result<Vec<Limit>, config::ConfigError> {
    config
        .limits
        .iter()
        .enumerate()
        .map(|(i, spec)| limit(&config.domain, spec, i))
        .collect()
}

fn limit(domain: &str, spec: &LimitSpec, i: usize) -> Result<Limit, config::ConfigError> {
    let bad = |field: String, e: String| config::ConfigError { field, message: e };
    // Keys and values were validated (identifiers, a quote-free alphabet), so these CEL
    // sources are exactly `key == 'value'` and `key`.
    let conditions = spec
        .matches
        .iter()
        .map(|(k, v)| {
            Predicate::parse(format!("{k} == '{v}'"))
                .map_err(|e| bad(format!("limits[{i}].match.{k}"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let variables = spec
        .per
        .iter()
        .map(|p| Expression::parse(p).map_err(|e| bad(format!("limits[{i}].per"), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut limit = Limit::with_id(
        spec.name.clone(),
        domain,
        spec.requests,
        spec.window_seconds,
        conditions,
        variables,
    );
    limit.set_name(spec.name.clone());
    Ok(limit)
}

/// The gRPC service: one limitador over Redis, the domain it answers for.
pub struct Service {
    limiter: AsyncRateLimiter,
    namespace: Namespace,
    domain: String,
}

impl Service {
    /// Connect to Redis and load the limits.
    pub async fn new(config: &Config) -> Result<Service, StartError> {
        let limits = limits(config).map_err(StartError::Config)?;
        let storage = AsyncRedisStorage::new(&config.redis_url)
            .await
            .map_err(|e| StartError::Storage(format!("{}: {e}", config.redis_url)))?;
        let limiter =
            AsyncRateLimiterBuilder::new(AsyncStorage::with_counter_storage(Box::new(storage)))
                .build();
        for l in limits {
            limiter.add_limit(l);
        }
        Ok(Service {
            limiter,
            namespace: config.domain.as_str().into(),
            domain: config.domain.clone(),
        })
    }

    /// Decide one request: every descriptor admitted (and counted), or none counted.
    pub async fn decide(&self, req: &RateLimitRequest) -> Result<RateLimitResponse, Status> {
        if req.domain != self.domain {
            return Err(Status::invalid_argument(format!(
                "unknown rate limit domain {:?}",
                req.domain
            )));
        }
        let default_hits = u64::from(req.hits_addend.max(1));
        let mut statuses = Vec::with_capacity(req.descriptors.len());
        let mut held = Vec::new();
        let mut over = false;
        for d in &req.descriptors {
            let hits = d
                .hits_addend
                .as_ref()
                .map_or(default_hits, |h| h.value)
                .clamp(1, MAX_HITS);
            let entries: HashMap<String, String> = d
                .entries
                .iter()
                .filter(|e| config::is_key(&e.key))
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
            if over {
                statuses.push(status(Code::Ok, None));
                continue;
            }
            let ctx: Context<'_> = entries.clone().into();
            let reserved = self
                .limiter
                .reserve(&self.namespace, &ctx, hits, Some(HOLD_TTL))
                .await
                .map_err(unavailable)?;
            let remaining = reserved.counters.iter().filter_map(|c| c.remaining()).min();
            let reset = reserved
                .counters
                .iter()
                .filter_map(|c| c.expires_in())
                .max();
            if reserved.limited {
                over = true;
                statuses.push(status(Code::OverLimit, reset.map(|r| (0, r))));
            } else {
                let left = remaining.map(|r| r.saturating_sub(hits));
                statuses.push(status(Code::Ok, left.zip(reset)));
                held.push((entries, reserved.reservation_id, hits));
            }
        }
        // Count what was admitted, or release the holds of a request refused as a whole.
        for (entries, id, hits) in held {
            let ctx: Context<'_> = entries.into();
            let amount = if over { 0 } else { hits };
            self.limiter
                .commit_reservation(&self.namespace, &ctx, id.as_ref(), amount)
                .await
                .map_err(unavailable)?;
        }
        let overall = if over { Code::OverLimit } else { Code::Ok };
        Ok(RateLimitResponse {
            overall_code: overall as i32,
            statuses,
            ..Default::default()
        })
    }
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("rate limit storage: {e}"))
}

fn status(code: Code, remaining_reset: Option<(u64, Duration)>) -> DescriptorStatus {
    DescriptorStatus {
        code: code as i32,
        limit_remaining: remaining_reset
            .map(|(r, _)| u32::try_from(r).unwrap_or(u32::MAX))
            .unwrap_or(0),
        duration_until_reset: remaining_reset.map(|(_, d)| {
            envoy_types::pb::google::protobuf::Duration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: 0,
            }
        }),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        self.decide(request.get_ref()).await.map(Response::new)
    }
}

/// A service serving on a listener; stops when dropped.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop serving and wait until the listener is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.ok();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

/// Validate the config, connect to Redis, and serve gRPC on `listener`.
pub async fn start(
    config: &Config,
    listener: tokio::net::TcpListener,
) -> Result<Running, StartError> {
    config.validate().map_err(StartError::Config)?;
    let service = Arc::new(Service::new(config).await?);
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(RateLimitServiceServer::from_arc(service))
            .serve_with_incoming_shutdown(incoming, async {
                rx.await.ok();
            })
            .await;
        if let Err(e) = served {
            eprintln!("meshguard-ratelimit: {e}");
        }
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
        task,
    })
}
