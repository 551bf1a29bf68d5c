//! Helpers for Riskdeck's cross-crate tests.
