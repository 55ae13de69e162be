//! The subcommands of `snap-convert` (`src/main.rs` is only the argument dispatch). They are
//! a library so that the fuzz targets in `fuzz/` and the tests reach exactly the readers a user's
//! files go through (`fuzz/src/lib.rs`); the library is not a stable API.
pub mod attach;
pub mod convert;
pub mod data;
pub mod eval;
pub mod inspect;
pub mod pipeline;
pub mod run;
pub mod shifts;
pub mod steps;
