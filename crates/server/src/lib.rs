//! The ChittyCharge service: configuration, the HTTP API (axum), the hold
//! use cases, and the `chittycharge` command line.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod core;
pub mod error;
mod input;
mod routes;
mod sim_backend;
mod views;
