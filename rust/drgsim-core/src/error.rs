//! Errors of the engine. Table problems are errors at load time; a case problem is a
//! status on its row, never an error.

use std::fmt;

/// One problem found in a table set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name inside the table set.
    pub file: String,
    /// 1-based line (0 when the problem concerns the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

/// A table set cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The folder does not exist.
    #[error("table set folder not found: {0}")]
    NotFound(String),
    /// A file cannot be read.
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    /// The set has problems; all of them are listed.
    #[error("{} problem(s) in table set {origin}:\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

/// A batch of cases cannot be read at all (a missing or mistyped column).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("column '{column}': {message}")]
    Column { column: String, message: String },
}
