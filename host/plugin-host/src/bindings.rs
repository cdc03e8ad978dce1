//! Host bindings generated from `wit/auth.wit`.

/// The authentication world.
pub mod authn {
    wasmtime::component::bindgen!({
        world: "authn-plugin",
        path: "../../wit",
    });
}

/// The authorization world; its types are [`authn`]'s.
pub mod authz {
    wasmtime::component::bindgen!({
        world: "authz-plugin",
        path: "../../wit",
        with: { "prism:auth/types": crate::bindings::authn::prism::auth::types },
    });
}
