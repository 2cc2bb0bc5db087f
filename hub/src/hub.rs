//! The shared state of a running hub.

use crate::config::HubConfig;
use crate::registry::Registry;
use sqlx::PgPool;

pub struct Hub {
    pub pool: PgPool,
    pub config: HubConfig,
    pub registry: Registry,
}

impl Hub {
    pub fn new(pool: PgPool, config: HubConfig) -> Hub {
        Hub {
            pool,
            config,
            registry: crate::methods::registry(),
        }
    }
}
