//! Code generated from `wit/prism-auth@0.2.0/auth.wit` (the directory
//! `contract.rs` reads the version from). Plugin authors use the re-exports at
//! the crate root instead of these modules.

/// The authentication world.
pub mod authn {
    wit_bindgen::generate!({
        world: "authn-plugin",
        path: "../wit/prism-auth@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_authn_world",
        default_bindings_module: "prism_plugin_sdk::bindings::authn",
        runtime_path: "prism_plugin_sdk::__private::wit_bindgen_rt",
        generate_unused_types: true,
        type_section_suffix: "prism-authn",
    });
}

/// The authorization world; shares its types with [`authn`].
pub mod authz {
    wit_bindgen::generate!({
        world: "authz-plugin",
        path: "../wit/prism-auth@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_authz_world",
        default_bindings_module: "prism_plugin_sdk::bindings::authz",
        runtime_path: "prism_plugin_sdk::__private::wit_bindgen_rt",
        with: { "prism:auth/types@0.2.0": crate::bindings::authn::prism::auth::types },
        type_section_suffix: "prism-authz",
    });
}
