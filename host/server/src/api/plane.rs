//! The data an authorized caller reaches, as typed calls: the engine in
//! Prism's own mode, the upstream in gateway mode. The web console reads
//! and writes through these, so it works the same in both modes with one
//! authorization path (`Authorized`); the caller's row filter restricts
//! every call in both.

use prism_engine::types::{Collection, Database, GetResult, QueryResult, Record};
use prism_engine::{CollectionKey, DeleteRequest, GetRequest, NewCollection, QueryRequest};
use serde_json::Value;

use super::access::Authorized;
use super::error::ApiError;

/// How a collection's graph is doing: `(indexed, total)` vectors.
pub type IndexProgress = (u64, u64);

impl Authorized {
    /// Every tenant, where they can be listed (not through Chroma's API).
    pub async fn list_tenants(self) -> Result<Vec<String>, ApiError> {
        if self.is_local() {
            return self.run(|e, _| e.list_tenants()).await;
        }
        self.upstream().await.map(|_| Vec::new())
    }

    /// The databases of the target's tenant.
    pub async fn list_databases(self) -> Result<Vec<Database>, ApiError> {
        if self.is_local() {
            return self
                .run(|e, at| e.list_databases(&at.tenant, None, 0))
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.list_databases(&at).await
    }

    /// The collections of the target's database, at most `limit`.
    pub async fn list_collections(self, limit: u32) -> Result<Vec<Collection>, ApiError> {
        if self.is_local() {
            return self
                .run(move |e, at| e.list_collections(&at.tenant, &at.database, Some(limit), 0))
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.list_collections(&at, limit).await
    }

    /// The target collection.
    pub async fn get_collection(self) -> Result<Collection, ApiError> {
        if self.is_local() {
            return self
                .run(|e, at| {
                    e.get_collection(
                        &at.tenant,
                        &at.database,
                        CollectionKey::Id(at.collection_id()),
                    )
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.get_collection(&at).await
    }

    /// Create the collection `name` in the target's database with an index
    /// `configuration` as Chroma's API takes it (`{"hnsw": {...}}`).
    pub async fn create_collection(
        self,
        name: String,
        configuration: Value,
    ) -> Result<Collection, ApiError> {
        if self.is_local() {
            let configuration = serde_json::from_value(configuration)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            return self
                .run(move |e, at| {
                    e.create_collection(
                        &at.tenant,
                        &at.database,
                        NewCollection {
                            name,
                            metadata: None,
                            configuration: Some(configuration),
                            schema: None,
                            get_or_create: false,
                        },
                    )
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.create_collection(&at, &name, configuration).await
    }

    /// Delete the target collection.
    pub async fn delete_collection(self) -> Result<(), ApiError> {
        if self.is_local() {
            return self
                .run(|e, at| {
                    let name = e.collection_name(&at.tenant, &at.database, at.collection_id())?;
                    e.delete_collection(&at.tenant, &at.database, &name)
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.delete_collection(&at).await
    }

    /// The records of the target collection the caller may see, and how
    /// far its graph is built (known of Prism's own engine only).
    pub async fn count(self) -> Result<(u64, Option<IndexProgress>), ApiError> {
        if self.is_local() {
            return self
                .run(|e, at| {
                    let id = at.collection_id();
                    let visible =
                        e.count_records_within(&at.tenant, &at.database, id, at.rows())?;
                    let progress = e.indexing_progress(&at.tenant, &at.database, id)?;
                    Ok((visible, Some(progress)))
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        Ok((gateway.count(&at).await?, None))
    }

    /// A get, restricted to the caller's rows.
    pub async fn get(self, request: GetRequest) -> Result<GetResult, ApiError> {
        if self.is_local() {
            return self
                .run(move |e, at| {
                    let request = at.restrict(request, |r| &mut r.selector);
                    e.get_records(&at.tenant, &at.database, at.collection_id(), &request)
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.get(&at, &request).await
    }

    /// Several gets under one authorization, each restricted to the
    /// caller's rows; also the count of what the caller may see, first.
    pub async fn count_and_get(
        self,
        requests: impl FnOnce(u64) -> Vec<GetRequest> + Send + 'static,
    ) -> Result<(u64, Vec<Record>), ApiError> {
        if self.is_local() {
            return self
                .run(move |e, at| {
                    let id = at.collection_id();
                    let total = e.count_records_within(&at.tenant, &at.database, id, at.rows())?;
                    let mut records = Vec::new();
                    for request in requests(total) {
                        let request = at.restrict(request, |r| &mut r.selector);
                        records.extend(
                            e.get_records(&at.tenant, &at.database, id, &request)?
                                .records,
                        );
                    }
                    Ok((total, records))
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        let total = gateway.count(&at).await?;
        let mut records = Vec::new();
        for request in requests(total) {
            records.extend(gateway.get(&at, &request).await?.records);
        }
        Ok((total, records))
    }

    /// A query, restricted to the caller's rows.
    pub async fn query(self, request: QueryRequest) -> Result<QueryResult, ApiError> {
        if self.is_local() {
            return self
                .run(move |e, at| {
                    let request = at.restrict(request, |r| &mut r.selector);
                    e.query(&at.tenant, &at.database, at.collection_id(), &request)
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.query(&at, &request).await
    }

    /// A delete, restricted to the caller's rows.
    pub async fn delete(self, request: DeleteRequest) -> Result<(), ApiError> {
        if self.is_local() {
            return self
                .run(move |e, at| {
                    let request = at.restrict(request, |r| &mut r.selector);
                    e.delete_records(&at.tenant, &at.database, at.collection_id(), &request)
                        .map(drop)
                })
                .await;
        }
        let (gateway, at) = self.upstream().await?;
        gateway.delete(&at, &request).await
    }
}
