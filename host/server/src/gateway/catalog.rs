//! Where the upstream's collections are: a collection id's tenant, database
//! and name, looked up once and remembered. An id's tenant and database
//! never change; its name may (a rename), so a name is trusted for a short
//! time only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use parking_lot::Mutex;
use serde::Deserialize;
use uuid::Uuid;

use super::forward::{path_segment, upstream_error};
use super::unavailable;
use super::upstream::Upstream;
use crate::api::error::ApiError;

/// Most collections remembered; past it the oldest half is forgotten.
const MAX_ENTRIES: usize = 100_000;

/// What is known of one collection.
#[derive(Clone)]
struct Place {
    tenant: String,
    database: String,
    name: String,
    seen: Instant,
}

/// The collections looked up so far, by id.
pub struct Catalog {
    places: Mutex<HashMap<Uuid, Place>>,
    ttl: Duration,
}

/// The part of Chroma's collection answer the gateway reads.
#[derive(Deserialize)]
struct CollectionAnswer {
    name: String,
    tenant: Option<String>,
    database: Option<String>,
}

impl Catalog {
    /// An empty catalog whose names are trusted for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Catalog {
            places: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The name of collection `id`, which must be in `tenant`/`database`.
    pub async fn name(
        &self,
        upstream: &Upstream,
        tenant: &str,
        database: &str,
        id: Uuid,
    ) -> Result<String, ApiError> {
        let known = self.places.lock().get(&id).cloned();
        if let Some(place) = known
            && place.seen.elapsed() < self.ttl
        {
            return within(&place, tenant, database, id);
        }
        let path = format!(
            "/api/v2/tenants/{}/databases/{}/collections/by-id/{id}",
            path_segment(tenant),
            path_segment(database)
        );
        let (status, body) = upstream
            .fetch(Method::GET, &path, None)
            .await
            .map_err(|e| unavailable(&e))?;
        if status != StatusCode::OK {
            return Err(upstream_error(status, &body));
        }
        let answer: CollectionAnswer = serde_json::from_slice(&body).map_err(|e| {
            ApiError::internal(format!(
                "the upstream's answer for collection {id} is not a collection: {e}"
            ))
        })?;
        let place = Place {
            tenant: answer.tenant.unwrap_or_else(|| tenant.to_string()),
            database: answer.database.unwrap_or_else(|| database.to_string()),
            name: answer.name,
            seen: Instant::now(),
        };
        let mut places = self.places.lock();
        if places.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = places.values().map(|p| p.seen).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            places.retain(|_, p| p.seen > cut);
        }
        places.insert(id, place.clone());
        drop(places);
        within(&place, tenant, database, id)
    }

    /// Forget collection `id`, or the collection named `name` in
    /// `tenant`/`database` (renamed or deleted through this gateway).
    pub fn forget(&self, tenant: &str, database: &str, id: Option<Uuid>, name: Option<&str>) {
        let mut places = self.places.lock();
        if let Some(id) = id {
            places.remove(&id);
        }
        if let Some(name) = name {
            places.retain(|_, p| !(p.name == name && p.tenant == tenant && p.database == database));
        }
    }
}

/// The collection's name when it is where the route says; otherwise the
/// answer the engine gives for a collection that is not there.
fn within(place: &Place, tenant: &str, database: &str, id: Uuid) -> Result<String, ApiError> {
    if place.tenant == tenant && place.database == database {
        Ok(place.name.clone())
    } else {
        Err(ApiError::not_found(format!(
            "Collection [{id}] does not exist"
        )))
    }
}
