//! Diagnostics of tree loading: severity, file, line, column, message and a source
//! snippet with a caret, printed the way compilers do.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u64,
    pub column: u64,
    pub message: String,
    /// The source line and a caret under the column, when known.
    pub snippet: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one source file.
pub struct Diagnostics<'a> {
    file: &'a str,
    source: &'a str,
    pub list: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &'a str, source: &'a str) -> Self {
        Diagnostics {
            file,
            source,
            list: Vec::new(),
        }
    }

    pub fn error(&mut self, at: (u64, u64), message: impl Into<String>) {
        self.push(Severity::Error, at, message.into());
    }

    pub fn warning(&mut self, at: (u64, u64), message: impl Into<String>) {
        self.push(Severity::Warning, at, message.into());
    }

    fn push(&mut self, severity: Severity, (line, column): (u64, u64), message: String) {
        self.list.push(Diagnostic {
            severity,
            file: self.file.to_owned(),
            line,
            column,
            message,
            snippet: snippet(self.source, line, column),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}

/// ` 12 |     "1": pensioni` and a caret line under `column`.
pub fn snippet(source: &str, line: u64, column: u64) -> Option<String> {
    if line == 0 {
        return None;
    }
    let text = source.lines().nth(usize::try_from(line).ok()? - 1)?;
    let gutter = format!("{line:>4} | ");
    let pad = " ".repeat(gutter.len() - 2) + "| ";
    let caret = " ".repeat(usize::try_from(column.saturating_sub(1)).ok()?);
    Some(format!("{gutter}{text}\n{pad}{caret}^"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_caret() {
        let src = "start: a\nnodes:\n  a:\n    play: {prompts: [x], next: b}\n";
        let mut d = Diagnostics::new("t.yaml", src);
        d.error((4, 34), "unknown node `b`");
        let text = d.list[0].to_string();
        assert_eq!(
            text,
            "t.yaml:4:34: error: unknown node `b`\n   4 |     play: {prompts: [x], next: b}\n     |                                  ^"
        );
        assert!(d.has_errors());
    }
}
