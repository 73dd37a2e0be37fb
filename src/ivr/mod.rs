//! The voice menu: YAML trees, their interpreter, schedules and Italian speech.

pub mod interp;
pub mod say_it;
pub mod schedule;
pub mod tree;
