//! Host bindings generated from the vendored upstream WIT (`wit/deps/`),
//! gathered by `wit/components.wit`.

#![allow(missing_docs, clippy::all)]

/// The imports every component may use beyond WASI 0.2.
pub mod host {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "lattice:components/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::imports::Bucket,
            "wasmcloud:secrets/store.secret": crate::imports::SecretHandle,
        },
    });
}

/// The messaging handler export.
pub mod handler {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "lattice:components/message-handler",
        exports: { default: async },
        with: {
            "wasmcloud:messaging/types": super::host::wasmcloud::messaging::types,
        },
    });
}
