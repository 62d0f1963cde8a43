//! Connecting to Postgres: create the database if missing, apply migrations, once per start.

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

/// Migrations of h2s-dispatch (the `public` schema, `_sqlx_migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The URL with its password replaced by `***`, for messages and logs.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// Creates the database if missing, connects a pool, and applies both migration sets
/// (apalis's and ours). Safe when several processes start at once: `CREATE DATABASE` races
/// are absorbed and sqlx serialises migrations with an advisory lock.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let masked = mask_url(url);
    let options: PgConnectOptions = url
        .parse()
        .with_context(|| format!("invalid database URL {masked}"))?;
    let options = plain_on_loopback(url, options);
    ensure_database(&options)
        .await
        .with_context(|| format!("cannot reach the database at {masked}"))?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to the database at {masked}"))?;
    migrate(&pool).await?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    // Both sets (the queue's and ours), every pending migration in one transaction.
    crate::migrate::apply(pool)
        .await
        .context("applying migrations")?
        .log();
    Ok(())
}

/// On a loopback address TLS protects nothing, and negotiating it (sqlx's default `prefer`
/// with a server that has `ssl = on`) costs ~100 ms per connection here, which every pool
/// refill, listener reconnect and reconciler sweep would pay. So a loopback URL that does not
/// ask for an `sslmode` connects without TLS; any other URL keeps sqlx's default.
fn plain_on_loopback(url: &str, options: PgConnectOptions) -> PgConnectOptions {
    let Ok(parsed) = url::Url::parse(url) else {
        return options;
    };
    let explicit = parsed
        .query_pairs()
        .any(|(k, _)| k == "sslmode" || k == "ssl-mode");
    let loopback = match parsed.host() {
        // A `postgres:` URL is not a "special" scheme, so its IP hosts come back as text.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback && !explicit {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = tokio::time::timeout(
        Duration::from_secs(5),
        PgConnection::connect_with(&maintenance),
    )
    .await
    .context("timed out")??;
    let exists: bool =
        sqlx::query_scalar(r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)"#)
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let create = format!("CREATE DATABASE {quoted}");
        match conn.execute(sqlx::AssertSqlSafe(create)).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // 42P04 duplicate_database, 23505: another process created it at the same moment.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::{mask_url, plain_on_loopback};

    fn mode(url: &str) -> PgSslMode {
        let options: PgConnectOptions = url.parse().unwrap();
        plain_on_loopback(url, options).get_ssl_mode()
    }

    #[test]
    fn loopback_urls_skip_tls_unless_they_ask_for_it() {
        assert!(matches!(
            mode("postgres://u@127.0.0.1:5432/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@localhost/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@[::1]:5432/d"),
            PgSslMode::Disable
        ));
        assert!(matches!(
            mode("postgres://u@127.0.0.1/d?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://u@db.internal/d"),
            PgSslMode::Prefer
        ));
    }

    #[test]
    fn passwords_are_masked() {
        let masked = mask_url("postgres://u:secret@db.internal:5432/d");
        assert!(!masked.contains("secret"));
        assert!(masked.contains("db.internal:5432"));
    }
}
