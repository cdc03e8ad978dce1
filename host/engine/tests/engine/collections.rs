//! Tenants, databases and collections.

use prism_engine::{
    CollectionKey, CollectionUpdate, DeleteRequest, EngineError, NewCollection, RecordSelector,
};
use serde_json::json;

use crate::support::{D, T, add, batch, collection, engine, map};

#[test]
fn a_collection_is_created_read_listed_changed_and_deleted() {
    let (_dir, engine) = engine();
    let new = NewCollection {
        name: "alpha".into(),
        metadata: Some(map(json!({"topic": "birds"}))),
        ..Default::default()
    };
    let created = engine.create_collection(T, D, new.clone()).unwrap();
    assert_eq!(created.name, "alpha");
    assert_eq!(created.metadata, Some(map(json!({"topic": "birds"}))));
    assert_eq!(created.dimension, None);

    let by_name = engine
        .get_collection(T, D, CollectionKey::Name("alpha"))
        .unwrap();
    let by_id = engine
        .get_collection(T, D, CollectionKey::Id(created.id))
        .unwrap();
    assert_eq!(by_name, created);
    assert_eq!(by_id, created);
    assert_eq!(engine.collection_name(T, D, created.id).unwrap(), "alpha");
    assert_eq!(engine.count_collections(T, D).unwrap(), 1);
    assert_eq!(
        engine.list_collections(T, D, None, 0).unwrap(),
        vec![created.clone()]
    );

    let again = engine.create_collection(T, D, new.clone()).unwrap_err();
    assert!(matches!(again, EngineError::AlreadyExists(_)), "{again:?}");
    assert_eq!(again.to_string(), "Collection [alpha] already exists");
    let existing = engine
        .create_collection(
            T,
            D,
            NewCollection {
                get_or_create: true,
                ..new
            },
        )
        .unwrap();
    assert_eq!(existing.id, created.id);

    let update = CollectionUpdate {
        new_name: Some("beta".into()),
        new_metadata: Some(map(json!({"topic": "fish"}))),
        ..Default::default()
    };
    engine.update_collection(T, D, created.id, update).unwrap();
    let renamed = engine
        .get_collection(T, D, CollectionKey::Id(created.id))
        .unwrap();
    assert_eq!(renamed.name, "beta");
    assert_eq!(renamed.metadata, Some(map(json!({"topic": "fish"}))));
    let gone = engine
        .get_collection(T, D, CollectionKey::Name("alpha"))
        .unwrap_err();
    assert_eq!(gone.to_string(), "Collection [alpha] does not exist");

    engine.delete_collection(T, D, "beta").unwrap();
    assert_eq!(engine.count_collections(T, D).unwrap(), 0);
    let gone = engine
        .get_collection(T, D, CollectionKey::Id(created.id))
        .unwrap_err();
    assert!(matches!(gone, EngineError::NotFound(_)), "{gone:?}");
}

#[test]
fn bad_names_and_metadata_are_refused() {
    let (_dir, engine) = engine();
    let short = NewCollection {
        name: "ab".into(),
        ..Default::default()
    };
    let err = engine.create_collection(T, D, short).unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err:?}");
    let empty_metadata = NewCollection {
        name: "abc".into(),
        metadata: Some(map(json!({}))),
        ..Default::default()
    };
    assert_eq!(
        engine
            .create_collection(T, D, empty_metadata)
            .unwrap_err()
            .to_string(),
        "Validation error: metadata: Metadata cannot be empty"
    );
    assert_eq!(engine.count_collections(T, D).unwrap(), 0);
}

#[test]
fn collections_are_scoped_to_their_tenant_and_database() {
    let (_dir, engine) = engine();
    engine.create_tenant("acme").unwrap();
    engine.create_database("acme", "sales").unwrap();
    assert_eq!(engine.get_tenant("acme").unwrap().name, "acme");
    let names: Vec<String> = engine
        .list_databases("acme", None, 0)
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["sales"]);
    let new = NewCollection {
        name: "leads".into(),
        ..Default::default()
    };
    let leads = engine.create_collection("acme", "sales", new).unwrap();
    // The same id from another database is not found there.
    let elsewhere = engine
        .get_collection(T, D, CollectionKey::Id(leads.id))
        .unwrap_err();
    assert!(
        matches!(elsewhere, EngineError::NotFound(_)),
        "{elsewhere:?}"
    );
    let own = collection(&engine, "leads");
    assert_ne!(own, leads.id);

    engine.delete_database("acme", "sales").unwrap();
    let gone = engine
        .get_collection("acme", "sales", CollectionKey::Id(leads.id))
        .unwrap_err();
    assert!(matches!(gone, EngineError::NotFound(_)), "{gone:?}");
    assert_eq!(engine.count_collections(T, D).unwrap(), 1);
}

#[test]
fn reset_needs_permission_and_wipes_everything() {
    let (_dir, engine) = engine();
    collection(&engine, "kept");
    let refused = engine.reset().unwrap_err();
    assert!(matches!(refused, EngineError::ResetDisabled), "{refused:?}");
    assert_eq!(engine.count_collections(T, D).unwrap(), 1);

    let dir = tempfile::tempdir().unwrap();
    let options = prism_engine::EngineOptions {
        allow_reset: true,
        ..crate::support::options(dir.path())
    };
    let engine = prism_engine::Engine::open(options).unwrap();
    collection(&engine, "wiped");
    engine.reset().unwrap();
    assert_eq!(engine.count_collections(T, D).unwrap(), 0);
    // The defaults come back, so the default database is usable at once.
    collection(&engine, "fresh");
}

#[test]
fn deletes_give_disk_space_back() {
    let (dir, engine) = engine();
    let names: Vec<String> = (0..8000).map(|i| format!("r{i}")).collect();
    let vectors: Vec<Vec<f32>> = (0..8000)
        .map(|i| (0..256).map(|j| ((i * 256 + j) as f32).sin()).collect())
        .collect();
    // 8,000 records of 256 floats: about 11 MB of pages.
    let fill = |name: &str| {
        let id = collection(&engine, name);
        for chunk in (0..8000).collect::<Vec<_>>().chunks(1000) {
            let ids: Vec<&str> = chunk.iter().map(|&i| names[i].as_str()).collect();
            let vecs: Vec<&[f32]> = chunk.iter().map(|&i| vectors[i].as_slice()).collect();
            add(&engine, id, &batch(&ids, &vecs, None, None));
        }
        id
    };
    let on_disk = || -> u64 {
        engine.flush().unwrap();
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("prism.sqlite3"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let id = fill("big");
    let full = on_disk();
    assert!(full > 8_000_000, "{full} bytes");

    let most = DeleteRequest {
        selector: RecordSelector {
            ids: Some(names[..7000].to_vec()),
            ..Default::default()
        },
        limit: None,
    };
    assert_eq!(engine.delete_records(T, D, id, &most).unwrap(), 7000);
    assert_eq!(engine.count_records(T, D, id).unwrap(), 1000);
    let after_delete = on_disk();
    assert!(after_delete < full / 3, "{after_delete} of {full} bytes");

    fill("second");
    let grown = on_disk();
    engine.delete_collection(T, D, "second").unwrap();
    let after_drop = on_disk();
    assert!(after_drop < grown / 3, "{after_drop} of {grown} bytes");
}
