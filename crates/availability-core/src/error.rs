//! The one error type of the crate: every invalid input names the field it came from.

/// An input the engine refuses, with the dotted path of the offending field
/// (`weekly.mon.0`, `time_off.2.rrule`, `service.slot_step_min`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value that does not parse or lies outside its allowed range.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field, array items by index (`weekly.mon.0`).
        field: String,
        /// What is wrong, for people.
        message: String,
    },
    /// An IANA zone name that the bundled time-zone database does not know.
    #[error("{field}: unknown time zone {name:?}")]
    UnknownZone {
        /// Dotted path of the field.
        field: String,
        /// The name as given.
        name: String,
    },
    /// An interval whose end is not after its start.
    #[error("{field}: end must be after start")]
    EndBeforeStart {
        /// Dotted path of the interval.
        field: String,
    },
    /// An RFC 5545 recurrence rule that does not parse, is unsupported, or
    /// does not have the interval's start as an occurrence.
    #[error("{field}: {message}")]
    Recurrence {
        /// Dotted path of the rule.
        field: String,
        /// What is wrong, for people.
        message: String,
    },
}

impl Error {
    /// The dotted path of the field this error is about.
    pub fn field(&self) -> &str {
        match self {
            Error::Invalid { field, .. }
            | Error::UnknownZone { field, .. }
            | Error::EndBeforeStart { field }
            | Error::Recurrence { field, .. } => field,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }

    /// The same error with `prefix.` put before its field path, for nesting.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        let field = match &mut self {
            Error::Invalid { field, .. }
            | Error::UnknownZone { field, .. }
            | Error::EndBeforeStart { field }
            | Error::Recurrence { field, .. } => field,
        };
        *field = if field.is_empty() { prefix.to_owned() } else { format!("{prefix}.{field}") };
        self
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
