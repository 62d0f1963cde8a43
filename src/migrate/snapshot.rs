//! The schema before and after the migrations, compared into the report's schema lines.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::{Postgres, Transaction};

/// The schema as a map `kind name -> definition`, and how far the adoption log went.
pub(crate) struct Snapshot {
    objects: BTreeMap<String, String>,
    pub(crate) log_position: i64,
}

impl Snapshot {
    pub(crate) async fn take(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<Self> {
        let rows: Vec<(String, String)> = sqlx::query_as(SCHEMA_SQL)
            .fetch_all(&mut **tx)
            .await
            .context("reading the schema")?;
        let has_log: bool =
            sqlx::query_scalar("SELECT to_regclass('h2s_adoption_log') IS NOT NULL")
                .fetch_one(&mut **tx)
                .await?;
        let log_position = if has_log {
            sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM h2s_adoption_log")
                .fetch_one(&mut **tx)
                .await?
        } else {
            0
        };
        Ok(Snapshot {
            objects: rows.into_iter().collect(),
            log_position,
        })
    }

    /// What changed, one line each; a table that is new is one line with what it holds.
    pub(crate) fn diff(&self, after: &Snapshot) -> Vec<String> {
        let new_tables: BTreeMap<&str, ()> = after
            .objects
            .keys()
            .filter(|k| !self.objects.contains_key(*k))
            .filter_map(|k| k.strip_prefix("table "))
            .map(|t| (t, ()))
            .collect();
        let mut parts_of_new: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
        let mut lines = Vec::new();
        for (key, def) in &after.objects {
            match self.objects.get(key) {
                None => match table_of(key) {
                    Some(table) if new_tables.contains_key(table.as_str()) => {
                        let kind = key.split(' ').next().unwrap_or_default();
                        *parts_of_new
                            .entry(table)
                            .or_default()
                            .entry(kind)
                            .or_default() += 1;
                    }
                    _ if key.starts_with("table ") => {}
                    _ => lines.push(format!("+ {key}{}", suffix(def))),
                },
                Some(old) if old != def => lines.push(format!("~ {key}: {old} -> {def}")),
                Some(_) => {}
            }
        }
        for table in new_tables.keys() {
            lines.push(new_table_line(table, parts_of_new.get(*table)));
        }
        for (key, def) in &self.objects {
            if !after.objects.contains_key(key) {
                lines.push(format!("- {key}{}", suffix(def)));
            }
        }
        lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
        lines
    }
}

/// `schema.table` of the part of a table (`kind schema.table.name`), `None` for other objects.
fn table_of(key: &str) -> Option<String> {
    let (kind, name) = key.split_once(' ')?;
    if !matches!(kind, "column" | "index" | "constraint" | "trigger") {
        return None;
    }
    let mut parts = name.splitn(3, '.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

/// A new table in one line, with how many parts of each kind it came with.
fn new_table_line(table: &str, kinds: Option<&BTreeMap<&str, usize>>) -> String {
    let parts = kinds
        .map(|kinds| {
            kinds
                .iter()
                .map(|(kind, n)| match *kind {
                    "index" => format!("indexes: {n}"),
                    kind => format!("{kind}s: {n}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!("+ table {table} ({parts})")
}

fn suffix(def: &str) -> String {
    if def.is_empty() {
        String::new()
    } else {
        format!(": {def}")
    }
}

/// Extensions; tables, columns, indexes (other than constraints' own), constraints (with
/// `NOT VALID` where so), triggers and functions (not extensions' own) of the database's own
/// schemas.
const SCHEMA_SQL: &str = r#"
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\_%'
)
SELECT 'extension ' || extname, extversion FROM pg_extension
UNION ALL
SELECT 'table ' || ns.nspname || '.' || c.relname, ''
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
UNION ALL
SELECT 'column ' || ns.nspname || '.' || c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN ns ON ns.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index ' || ns.nspname || '.' || t.relname || '.' || c.relname, pg_get_indexdef(c.oid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN ns ON ns.oid = c.relnamespace
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT 'constraint ' || ns.nspname || '.' || r.relname || '.' || k.conname,
       pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class r ON r.oid = k.conrelid
JOIN ns ON ns.oid = r.relnamespace
UNION ALL
SELECT 'trigger ' || ns.nspname || '.' || r.relname || '.' || t.tgname, ''
FROM pg_trigger t
JOIN pg_class r ON r.oid = t.tgrelid
JOIN ns ON ns.oid = r.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function ' || ns.nspname || '.' || p.proname
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(p.prosrc)
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
-- An extension's own functions come and go with it.
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
"#;
