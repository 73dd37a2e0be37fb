//! The office directory (placeholder until written).
