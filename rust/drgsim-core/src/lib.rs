//! drgsim-core: a table-driven CHS-DRG grouping engine.
//!
//! The engine never sees Python. A table set in the project's format is loaded and checked
//! ([`tables::compile`]) into an immutable [`Grouper`]; cases are grouped one at a time
//! ([`Grouper::group`]) or as Arrow record batches in parallel ([`batch::group_batch`]).

pub mod batch;
pub mod builtin;
pub mod codes;
pub mod counterfactual;
pub mod dip;
pub mod error;
pub mod expr;
pub mod grouper;
pub mod lint;
pub mod tables;

pub use error::{BatchError, Problem, TableError};
pub use grouper::{Case, Grouper, Outcome, Reason, Status, TraceStep};
pub use tables::{compile, TableFiles};

/// Load and compile the table set in a folder.
pub fn load_dir(dir: &std::path::Path) -> Result<Grouper, TableError> {
    compile(&TableFiles::from_dir(dir)?)
}
