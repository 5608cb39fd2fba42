//! Carnet's shared core: the domain model of the street count, its Automerge documents,
//! the SQLite store and the sans-IO sync engine that speaks automerge-repo's WebSocket protocol.
//!
//! Pure modules (`ids`, `storage`, and the model/doc/wire/engine modules) never touch a socket,
//! a clock or randomness: time and random values are passed in. `store` does disk I/O and
//! `net` (feature `net`) is the tokio client driver.
#![forbid(unsafe_code)]

pub mod climate;
pub mod doc;
pub mod engine;
pub mod geo;
pub mod ids;
pub mod limits;
pub mod model;
#[cfg(feature = "net")]
pub mod net;
pub mod questionnaire;
pub mod report;
pub mod sim;
pub mod storage;
pub mod store;
pub mod sync_status;
pub mod wire;
