//! Envoy counters for decisions, named `meshguard.<filter>.<decision>[.<reason>]`.
//!
//! Envoy exposes them under the `wasmcustom.` prefix on `/stats` and `/stats/prometheus`.
//! Metric ids are defined on first use and cached per VM (Wasm VMs are single-threaded).

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static METRICS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

/// Add one to the counter `meshguard.<filter>.<name>`.
pub fn increment(filter: &str, name: &str) {
    let full = format!("meshguard.{filter}.{name}");
    METRICS.with(|m| {
        let mut m = m.borrow_mut();
        let id = match m.get(&full) {
            Some(id) => Some(*id),
            None => hostcalls::define_metric(MetricType::Counter, &full)
                .ok()
                .inspect(|id| {
                    m.insert(full.clone(), *id);
                }),
        };
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    });
}
