//! The query crate's one error type. Every variant a user can cause is a 400 for the server:
//! `Syntax`, `Invalid` and `LimitExceeded` map to ADT's `SqlQueryError`, `BadContinuation` to
//! `BadRequest`, `Timeout` to `TimeoutError`; `Engine` keeps the engine's error for the
//! server's engine table (storage and corruption are 5xx).

use std::fmt;

/// A line and column in the query text, both counted from 1; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the end of the text).
    pub fn of(text: &str, offset: usize) -> Position {
        let mut line = 1;
        let mut column = 1;
        for (i, c) in text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a query of the grammar.
    #[error("syntax error at {position}: {message}")]
    Syntax { position: Position, message: String },
    /// The text parses but means nothing valid: an unknown alias, `SELECT *` with JOIN, ...
    #[error("invalid query at {position}: {message}")]
    Invalid { position: Position, message: String },
    /// One of ADT's documented query limits (adt-api.md §5.5) or a nesting bound of ours.
    #[error("query limit exceeded at {position}: {message}")]
    LimitExceeded { position: Position, message: String },
    /// A continuation token that this server did not issue for this snapshot, or that has expired.
    #[error("invalid continuation token: {0}")]
    BadContinuation(String),
    /// The query ran longer than its time budget.
    #[error("query timed out after {0} seconds")]
    Timeout(u64),
    /// Reading the snapshot failed (storage or corrupt data): a server-side failure.
    #[error("reading the snapshot failed: {0}")]
    Engine(#[from] twingraph_engine::Error),
    /// A bug in twingraph: an invariant of the planner or executor did not hold.
    #[error("internal error (a bug in twingraph): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn syntax(text: &str, offset: usize, message: impl Into<String>) -> Error {
        Error::Syntax {
            position: Position::of(text, offset),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(text: &str, offset: usize, message: impl Into<String>) -> Error {
        Error::Invalid {
            position: Position::of(text, offset),
            message: message.into(),
        }
    }

    pub(crate) fn limit(text: &str, offset: usize, message: impl Into<String>) -> Error {
        Error::LimitExceeded {
            position: Position::of(text, offset),
            message: message.into(),
        }
    }

    /// Where in the query text the error was found, for errors that have a place.
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Syntax { position, .. }
            | Error::Invalid { position, .. }
            | Error::LimitExceeded { position, .. } => Some(*position),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "SELECT *\nFROM DIGITALTWINS\nWHERE é = 1";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 9), Position { line: 2, column: 1 });
        let after_e = text.find("= 1").unwrap_or(0);
        assert_eq!(Position::of(text, after_e), Position { line: 3, column: 9 });
        assert_eq!(Position::of(text, 10_000).line, 3);
    }
}
