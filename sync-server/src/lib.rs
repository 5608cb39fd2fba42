//! carnet-server: the sync endpoint, enrolment API and procurement views.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod coord;
pub mod db;
pub mod docs;
pub mod error;
pub mod revocation;
pub mod sync;

pub use app::{AppState, Clock, ServerConfig, router, serve};
pub mod procurement;
