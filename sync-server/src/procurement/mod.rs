//! Public procurement (DESIGN §6): DECP import (2019 and 2022/2024 formats, JSON and
//! XML), normalised storage with data-quality findings, OCDS 1.1.5 publication.

pub mod cli;
pub mod db;
pub mod download;
pub mod generation;
pub mod http;
pub mod import;
pub mod model;
pub mod ocds;
pub mod pool;
pub mod publish;
pub mod quality;
pub mod sanitize;
pub mod source;
pub mod views;
