//! The catalog half of [`Engine`]: tenants, databases and collections.

use uuid::Uuid;

use super::Engine;
use crate::collection_config::StoredConfiguration;
use crate::error::{EngineError, Result};
use crate::requests::{CollectionUpdate, NewCollection};
use crate::store::catalog::{self, CollectionKey, CollectionRow};
use crate::types::{Collection, Database, Tenant};
use crate::validate;

impl Engine {
    /// Create a tenant.
    pub fn create_tenant(&self, name: &str) -> Result<()> {
        validate::validate_tenant_name(name)?;
        self.write(|c| catalog::create_tenant(c, name))
    }

    /// Read a tenant.
    pub fn get_tenant(&self, name: &str) -> Result<Tenant> {
        catalog::get_tenant(&self.reader(), name)
    }

    /// Every tenant's name, in name order (Chroma's API has no such call;
    /// the console shows a person the tenants they may open).
    pub fn list_tenants(&self) -> Result<Vec<String>> {
        catalog::list_tenants(&self.reader())
    }

    /// Set a tenant's resource name.
    pub fn update_tenant(&self, name: &str, resource_name: &str) -> Result<()> {
        self.write(|c| catalog::update_tenant(c, name, resource_name))
    }

    /// Create a database in a tenant.
    pub fn create_database(&self, tenant: &str, name: &str) -> Result<()> {
        validate::validate_database_name(name)?;
        self.write(|c| catalog::create_database(c, tenant, name))
    }

    /// Read a database.
    pub fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        catalog::get_database(&self.reader(), tenant, name)
    }

    /// List a tenant's databases.
    pub fn list_databases(
        &self,
        tenant: &str,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Vec<Database>> {
        catalog::list_databases(&self.reader(), tenant, limit, offset)
    }

    /// Delete a database with all its collections.
    pub fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        let gone = self.write(|c| catalog::delete_database(c, tenant, name))?;
        self.indexes.forget(&gone);
        self.give_back_space();
        Ok(())
    }

    /// Create a collection (or return the existing one with `get_or_create`).
    pub fn create_collection(
        &self,
        tenant: &str,
        database: &str,
        new: NewCollection,
    ) -> Result<Collection> {
        let NewCollection {
            name,
            metadata,
            configuration,
            schema,
            get_or_create,
        } = new;
        let name = name.as_str();
        validate::validate_name("name", name)?;
        let metadata = metadata
            .map(|m| validate::collection_metadata("metadata", m))
            .transpose()?
            .flatten();
        let config = StoredConfiguration::for_create(
            configuration.as_ref(),
            metadata.as_ref(),
            schema.as_ref().filter(|s| s.is_object()),
        )?;
        let row = self.write(|c| {
            match catalog::get_collection(c, tenant, database, CollectionKey::Name(name)) {
                Ok(existing) if get_or_create => Ok(existing),
                Ok(_) => Err(EngineError::AlreadyExists(format!(
                    "Collection [{name}] already exists"
                ))),
                Err(EngineError::NotFound(_)) => {
                    catalog::insert_collection(c, tenant, database, name, &metadata, &config)
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(row.to_collection())
    }

    /// A collection's row, read with a reader connection.
    pub(super) fn collection(
        &self,
        tenant: &str,
        database: &str,
        key: CollectionKey<'_>,
    ) -> Result<CollectionRow> {
        catalog::get_collection(&self.reader(), tenant, database, key)
    }

    /// The name of the collection `id` in a tenant and database.
    pub fn collection_name(&self, tenant: &str, database: &str, id: Uuid) -> Result<String> {
        Ok(self
            .collection(tenant, database, CollectionKey::Id(id))?
            .name)
    }

    /// Read a collection by name or id.
    pub fn get_collection(
        &self,
        tenant: &str,
        database: &str,
        key: CollectionKey<'_>,
    ) -> Result<Collection> {
        Ok(self.collection(tenant, database, key)?.to_collection())
    }

    /// List a database's collections.
    pub fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Vec<Collection>> {
        let rows = catalog::list_collections(&self.reader(), tenant, database, limit, offset)?;
        Ok(rows.iter().map(CollectionRow::to_collection).collect())
    }

    /// Count a database's collections.
    pub fn count_collections(&self, tenant: &str, database: &str) -> Result<u64> {
        catalog::count_collections(&self.reader(), tenant, database)
    }

    /// Rename a collection, replace its metadata, or change its configuration.
    pub fn update_collection(
        &self,
        tenant: &str,
        database: &str,
        id: Uuid,
        update: CollectionUpdate,
    ) -> Result<()> {
        if let Some(name) = &update.new_name {
            validate::validate_name("new_name", name)?;
        }
        let new_metadata = update
            .new_metadata
            .clone()
            .map(|m| validate::collection_metadata("new_metadata", m))
            .transpose()?;
        let row = self.write(|c| {
            let mut row = catalog::get_collection(c, tenant, database, CollectionKey::Id(id))?;
            if let Some(name) = &update.new_name {
                row.name = name.clone();
            }
            if let Some(m) = &new_metadata {
                row.metadata = m.clone();
            }
            if let Some(cfg) = &update.new_configuration {
                row.config.apply_update(cfg)?;
            }
            catalog::save_collection(c, &row)?;
            Ok(row)
        })?;
        self.indexes.reconfigure(&row);
        Ok(())
    }

    /// Delete a collection by name.
    pub fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        let gone = self.write(|c| {
            let row = catalog::get_collection(c, tenant, database, CollectionKey::Name(name))?;
            catalog::delete_collection_rows(c, row.seq)?;
            Ok((row.seq, row.id))
        })?;
        self.indexes.forget(&[gone]);
        self.give_back_space();
        Ok(())
    }
}
