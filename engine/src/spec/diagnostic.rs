//! Problems found while loading and validating DAG files, each with a location and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::yaml::Pos;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something is ignored or unusual, but the DAG loads.
    Warning,
    /// The DAG cannot load.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What kind of problem a [`Diagnostic`] reports: a stable code for tools (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The file could not be read.
    Io,
    /// The YAML is not well formed.
    YamlSyntax,
    /// The YAML exceeds a size, depth or alias-expansion budget.
    YamlBudget,
    /// A key that is not known here.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or form.
    InvalidValue,
    /// A duration that does not parse.
    InvalidDuration,
    /// A date or time that does not parse.
    InvalidDate,
    /// A schedule (cron expression or preset) that does not parse.
    InvalidSchedule,
    /// `start_date` after `end_date`.
    DateOrder,
    /// A DAG or task id with characters that are not allowed.
    InvalidId,
    /// A DAG id defined twice.
    DuplicateDag,
    /// A task id defined twice within a DAG.
    DuplicateTask,
    /// An operator that no registry knows.
    UnknownOperator,
    /// An Airflow construct that dagctl does not run (Python callables, most operators).
    Unsupported,
    /// Operator arguments the operator rejects.
    OperatorArgs,
    /// A dependency on a task id that does not exist.
    UnknownDependency,
    /// A task group that does not exist.
    UnknownTaskGroup,
    /// A reference to a DAG that does not exist (`trigger_dag`).
    UnknownDag,
    /// A dependency cycle.
    Cycle,
    /// A trigger rule name that does not exist.
    UnknownTriggerRule,
    /// A pool that is not defined.
    UnknownPool,
    /// A key that is accepted for compatibility but has no effect.
    Ignored,
    /// A template that cannot render for any run (an unknown name, method or filter, a
    /// syntax error).
    Template,
}

impl Kind {
    /// The stable kebab-case code of this kind, as printed by `--json`.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Io => "io",
            Kind::YamlSyntax => "yaml-syntax",
            Kind::YamlBudget => "yaml-budget",
            Kind::UnknownKey => "unknown-key",
            Kind::MissingKey => "missing-key",
            Kind::InvalidValue => "invalid-value",
            Kind::InvalidDuration => "invalid-duration",
            Kind::InvalidDate => "invalid-date",
            Kind::InvalidSchedule => "invalid-schedule",
            Kind::DateOrder => "date-order",
            Kind::InvalidId => "invalid-id",
            Kind::DuplicateDag => "duplicate-dag",
            Kind::DuplicateTask => "duplicate-task",
            Kind::UnknownOperator => "unknown-operator",
            Kind::Unsupported => "unsupported",
            Kind::OperatorArgs => "operator-args",
            Kind::UnknownDependency => "unknown-dependency",
            Kind::UnknownTaskGroup => "unknown-task-group",
            Kind::UnknownDag => "unknown-dag",
            Kind::Cycle => "cycle",
            Kind::UnknownTriggerRule => "unknown-trigger-rule",
            Kind::UnknownPool => "unknown-pool",
            Kind::Ignored => "ignored",
            Kind::Template => "template",
        }
    }

    fn severity(self) -> Severity {
        match self {
            Kind::Ignored => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// One problem in a DAG file: where, what, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Line and column of the offending key or value.
    pub pos: Pos,
    /// Error or warning.
    pub severity: Severity,
    /// The kind of problem.
    pub kind: Kind,
    /// What is wrong, naming the offending key or value.
    pub message: String,
    /// What to do about it, when there is something specific to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic of `kind` at `pos` in `file`; the severity follows from the kind.
    pub fn new(file: &Path, pos: Pos, kind: Kind, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            pos,
            severity: kind.severity(),
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Whether this diagnostic is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as a JSON object (for `--json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file.display().to_string(),
            "line": (self.pos.line > 0).then_some(self.pos.line),
            "column": (self.pos.line > 0).then_some(self.pos.column),
            "severity": self.severity.as_str(),
            "kind": self.kind.code(),
            "message": self.message,
            "hint": self.hint,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Problems with the file as a whole (it cannot be read) have no line.
        if self.pos.line == 0 {
            write!(f, "{}", self.file.display())?;
        } else {
            write!(
                f,
                "{}:{}:{}",
                self.file.display(),
                self.pos.line,
                self.pos.column
            )?;
        }
        write!(f, ": {}: {}", self.severity.as_str(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// A collection of diagnostics, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Appends one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The number of errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// The number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    /// Iterates over the diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Whether there are none at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by file, then position, so that output is stable.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.pos, a.kind.code()).cmp(&(&b.file, b.pos, b.kind.code())));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
