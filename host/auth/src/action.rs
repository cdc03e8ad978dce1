//! Chroma's authorization actions.

/// What a request does, by Chroma's `AuthzAction` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `system:reset`
    Reset,
    /// `tenant:create_tenant`
    CreateTenant,
    /// `tenant:get_tenant`
    GetTenant,
    /// `tenant:update_tenant`
    UpdateTenant,
    /// `db:create_database`
    CreateDatabase,
    /// `db:get_database`
    GetDatabase,
    /// `db:delete_database`
    DeleteDatabase,
    /// `db:list_databases`
    ListDatabases,
    /// `db:list_collections`
    ListCollections,
    /// `db:count_collections`
    CountCollections,
    /// `db:create_collection` (also for get-or-create, as Chroma)
    CreateCollection,
    /// `collection:get_collection`
    GetCollection,
    /// `collection:delete_collection`
    DeleteCollection,
    /// `collection:update_collection`
    UpdateCollection,
    /// `collection:add`
    Add,
    /// `collection:delete`
    Delete,
    /// `collection:get`
    Get,
    /// `collection:query`
    Query,
    /// `collection:count`
    Count,
    /// `collection:update`
    Update,
    /// `collection:upsert`
    Upsert,
    /// `collection:search`
    Search,
    /// `collection:fork_collection`
    ForkCollection,
    /// `collection:count_forks`
    CountForks,
    /// `collection:get_collection_by_crn`
    GetCollectionByCrn,
    /// `collection:create_attached_function`
    CreateAttachedFunction,
}

impl Action {
    /// Chroma's name for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reset => "system:reset",
            Action::CreateTenant => "tenant:create_tenant",
            Action::GetTenant => "tenant:get_tenant",
            Action::UpdateTenant => "tenant:update_tenant",
            Action::CreateDatabase => "db:create_database",
            Action::GetDatabase => "db:get_database",
            Action::DeleteDatabase => "db:delete_database",
            Action::ListDatabases => "db:list_databases",
            Action::ListCollections => "db:list_collections",
            Action::CountCollections => "db:count_collections",
            Action::CreateCollection => "db:create_collection",
            Action::GetCollection => "collection:get_collection",
            Action::DeleteCollection => "collection:delete_collection",
            Action::UpdateCollection => "collection:update_collection",
            Action::Add => "collection:add",
            Action::Delete => "collection:delete",
            Action::Get => "collection:get",
            Action::Query => "collection:query",
            Action::Count => "collection:count",
            Action::Update => "collection:update",
            Action::Upsert => "collection:upsert",
            Action::Search => "collection:search",
            Action::ForkCollection => "collection:fork_collection",
            Action::CountForks => "collection:count_forks",
            Action::GetCollectionByCrn => "collection:get_collection_by_crn",
            Action::CreateAttachedFunction => "collection:create_attached_function",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
