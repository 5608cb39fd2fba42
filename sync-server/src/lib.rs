//! carnet-server: the sync endpoint, enrolment API and procurement views.
#![forbid(unsafe_code)]
pub mod procurement;
