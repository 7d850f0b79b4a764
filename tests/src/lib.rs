//! Test harness shared by the cross-crate suites: databases ([`db`]).

pub mod db;
