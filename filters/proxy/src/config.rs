//! Plugin configuration loading: refuse to start on a bad configuration and say why.

use meshguard_core::config::{self, Validate};
use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;
use serde::de::DeserializeOwned;

/// Parse the plugin configuration; on error log it (critical, naming the field) and return
/// `None`, so `on_configure` returns false and Envoy refuses the plugin. The reserved
/// `denials` member (how policy denials are answered) is taken off first and applied to
/// [`crate::denial`].
pub fn load<T: DeserializeOwned + Validate>(root: &dyn RootContext, filter: &str) -> Option<T> {
    let bytes = root.get_plugin_configuration().unwrap_or_default();
    let parsed = meshguard_core::denial::split_config(&bytes)
        .and_then(|(bytes, denials)| config::parse::<T>(&bytes).map(|config| (config, denials)));
    match parsed {
        Ok((config, denials)) => {
            crate::denial::set_policy_status(denials.policy_status);
            crate::log::at(LogLevel::Info, filter, "configuration loaded");
            Some(config)
        }
        Err(e) => {
            crate::log::at(LogLevel::Critical, filter, &e.to_string());
            None
        }
    }
}
