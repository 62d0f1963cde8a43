//! What a migration run did, for `api --migrate-check` (printed) and for the start (logged).

use std::fmt;

use super::MigrationReport;

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
        let verb = if self.rolled_back {
            "would apply"
        } else {
            "applied"
        };
        if self.applied.is_empty() {
            writeln!(f, "migrations: none pending")?;
        } else {
            writeln!(
                f,
                "migrations: {verb} {} in one transaction:",
                self.applied.len()
            )?;
            for a in &self.applied {
                writeln!(f, "  {:<5} {} {}", a.set, a.version, a.description)?;
            }
        }
        if !self.schema.is_empty() {
            writeln!(
                f,
                "schema ({} changes; + added, ~ changed, - dropped):",
                self.schema.len()
            )?;
            for line in &self.schema {
                writeln!(f, "  {line}")?;
            }
        }
        if !self.data.is_empty() {
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
        }
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
        if self.rolled_back {
            write!(f, "rolled back: this was a check, nothing was changed")
        } else {
            write!(f, "committed")
        }
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
