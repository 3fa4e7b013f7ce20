//! The ChittyCharge service: configuration, the HTTP API (axum), the hold
//! use cases, and the `chittycharge` command line.

pub mod app;
pub mod audit;
pub mod auth;
pub mod chittyid;
pub mod cli;
mod cli_client;
pub mod config;
pub mod error;
mod health_cache;
mod input;
pub mod jobs;
mod negotiate;
pub mod observe;
pub mod openapi;
pub mod protect;
pub mod registry;
pub(crate) mod routes;
pub mod serve;
pub mod state;
mod strict_json;
pub mod timing;
mod views;
pub mod web;
