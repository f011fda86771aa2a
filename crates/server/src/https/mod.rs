//! The HTTPS JSON API (axum): sessions with dual control, administration, approvals.
