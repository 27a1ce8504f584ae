//! Integration tests: the real application in-process on 127.0.0.1:0, each test with its
//! own database. By default they run on SQLite with the SQL store; with
//! `GATEHOUSE_TEST_DATABASE_URL` (a PostgreSQL server URL) and `GATEHOUSE_TEST_REDIS_URL`
//! set, on PostgreSQL and Redis — and the suites that need those services become
//! mandatory (they fail rather than skip when the service cannot be reached).

mod helpers;

mod account_pages;
mod accounts;
mod admin_api;
mod admin_openapi;
mod admin_pages;
mod authorize_pages;
mod browser;
mod canonical_host;
mod cli;
mod cli_admin;
mod deletion;
mod hardening;
mod health;
mod hot_paths;
mod interop;
mod keys;
mod magic_links;
mod magic_links_more;
mod mail;
mod migrations;
mod oidc;
mod oidc_more;
mod pages;
mod passkey_lifecycle;
mod passkeys;
mod purge;
mod readiness;
mod rp_hardening;
mod sessions;
mod store;
mod trusted_browsers;
mod two_factor;
mod two_factor_more;
mod upstream;
mod upstream_linking;
