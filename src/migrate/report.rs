//! What a migration run did, for `api --migrate-check` (printed) and for the start (logged).

use std::fmt;

use serde::Serialize;

/// A migration applied (or, in a check, that would be).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub set: &'static str,
    pub version: i64,
    pub description: String,
}

/// A data change recorded by the adoption migrations in `h2s_adoption_log`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DataChange {
    pub action: String,
    pub table_name: String,
    pub row_count: i64,
    pub message: String,
    pub detail: serde_json::Value,
}

/// A constraint that is not valid yet: old rows break it (new rows must satisfy it).
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub table: String,
    pub constraint: String,
    pub reason: String,
}

/// What a migration run did (or, in a check, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrationReport {
    /// Rolled back: this was `--migrate-check`.
    pub rolled_back: bool,
    pub applied: Vec<Applied>,
    /// Schema objects added, dropped or changed: `+`/`-`/`~`, kind, name, definition.
    pub schema: Vec<String>,
    /// What the adoption migrations changed or found in the data.
    pub data: Vec<DataChange>,
    /// Constraints validated by this run (they were `NOT VALID`, and the data is now clean).
    pub validated: Vec<String>,
    /// Constraints still `NOT VALID`, with why.
    pub invalid: Vec<Invalid>,
}

impl MigrationReport {
    /// Logs what a start applied: versions and data changes at info, constraints left
    /// invalid at warn, schema changes at debug.
    pub fn log(&self) {
        if self.applied.is_empty() {
            tracing::debug!("migrations: none pending");
        } else {
            let versions: Vec<String> = self
                .applied
                .iter()
                .map(|a| format!("{} {}", a.set, a.version))
                .collect();
            tracing::info!(
                applied = self.applied.len(),
                schema_changes = self.schema.len(),
                data_changes = self.data.len(),
                versions = %versions.join(", "),
                "migrations applied in one transaction"
            );
        }
        for line in &self.schema {
            tracing::debug!("migration schema change: {line}");
        }
        for change in &self.data {
            tracing::info!(
                action = %change.action,
                table = %change.table_name,
                rows = change.row_count,
                detail = %shorten(&change.detail.to_string(), 1000),
                "adoption: {}",
                change.message
            );
        }
        for name in &self.validated {
            tracing::info!(constraint = %name, "constraint validated: the old data is clean now");
        }
        for invalid in &self.invalid {
            tracing::warn!(
                constraint = %format!("{}.{}", invalid.table, invalid.constraint),
                reason = %invalid.reason,
                "constraint left NOT VALID: old rows break it (new rows must satisfy it)"
            );
        }
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_applied(f)?;
        self.fmt_schema(f)?;
        self.fmt_data(f)?;
        self.fmt_constraints(f)?;
        if self.rolled_back {
            write!(f, "rolled back: this was a check, nothing was changed")
        } else {
            write!(f, "committed")
        }
    }
}

/// The parts of the printed report, in their order.
impl MigrationReport {
    fn fmt_applied(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.rolled_back {
            "would apply"
        } else {
            "applied"
        };
        if self.applied.is_empty() {
            return writeln!(f, "migrations: none pending");
        }
        writeln!(
            f,
            "migrations: {verb} {} in one transaction:",
            self.applied.len()
        )?;
        for a in &self.applied {
            writeln!(f, "  {:<5} {} {}", a.set, a.version, a.description)?;
        }
        Ok(())
    }

    fn fmt_schema(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "schema ({} changes; + added, ~ changed, - dropped):",
            self.schema.len()
        )?;
        for line in &self.schema {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }

    fn fmt_data(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.data.is_empty() {
            return Ok(());
        }
        writeln!(f, "data (backfilled, merged, filled, kept as they are):")?;
        for change in &self.data {
            writeln!(
                f,
                "  [{}] {}: {}",
                change.action, change.table_name, change.message
            )?;
            let detail = change.detail.to_string();
            if detail != "[]" {
                writeln!(f, "      {}", shorten(&detail, 400))?;
            }
        }
        Ok(())
    }

    fn fmt_constraints(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.validated.is_empty() {
            writeln!(f, "constraints validated (the data is clean):")?;
            for name in &self.validated {
                writeln!(f, "  {name}")?;
            }
        }
        if !self.invalid.is_empty() {
            writeln!(
                f,
                "constraints left NOT VALID (old rows kept as they are; new rows must satisfy \
                 them; validated at a later start once the data is clean):"
            )?;
            for i in &self.invalid {
                writeln!(f, "  {}.{}: {}", i.table, i.constraint, i.reason)?;
            }
        }
        Ok(())
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}
