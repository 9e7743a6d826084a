//! Which [`CalendarProvider`] serves which stored [`Provider`]: chosen by the binaries.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use calendar_provider::CalendarProvider;
use store::Provider;

/// Hands out the provider implementation for a connection's provider.
pub trait ProviderFactory: Send + Sync {
    /// The implementation for `provider`, or `None` when this deployment does not support it.
    fn provider(&self, provider: Provider) -> Option<Arc<dyn CalendarProvider>>;
}

/// A fixed map from provider to implementation, built once at start-up.
#[derive(Default, Clone)]
pub struct StaticProviders {
    providers: HashMap<Provider, Arc<dyn CalendarProvider>>,
}

impl StaticProviders {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the implementation of `provider`.
    pub fn with(mut self, provider: Provider, implementation: Arc<dyn CalendarProvider>) -> Self {
        self.providers.insert(provider, implementation);
        self
    }
}

impl ProviderFactory for StaticProviders {
    fn provider(&self, provider: Provider) -> Option<Arc<dyn CalendarProvider>> {
        self.providers.get(&provider).cloned()
    }
}

impl fmt::Debug for StaticProviders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.providers.keys().map(|p| p.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("StaticProviders").field("providers", &names).finish()
    }
}
