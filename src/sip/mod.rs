//! SIP (RFC 3261): message framing and parsing, the four transaction machines of §17,
//! and the UAS endpoint that answers calls. Pure: no I/O, time is a parameter.

pub mod auth;
pub mod dialled;
pub mod dialog;
pub mod endpoint;
pub mod msg;
pub mod overload;
pub mod registrar;
pub mod transaction;
