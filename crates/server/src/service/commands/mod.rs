//! Host API commands (`admin:commands`): which commands the Host API answers, one module per
//! use case.

pub mod list;
pub mod set;
