use sqlx::postgres::PgSslMode;

use super::target::{Target, mask_url};

fn mode(url: &str) -> PgSslMode {
    Target::from_url(url, 1).options().unwrap().get_ssl_mode()
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
fn the_settings_sslmode_wins_over_the_url_and_over_loopback() {
    let mut target = Target::from_url("postgres://u@127.0.0.1/d", 1);
    target.ssl_mode = Some(PgSslMode::VerifyFull);
    assert!(matches!(
        target.options().unwrap().get_ssl_mode(),
        PgSslMode::VerifyFull
    ));
    let mut target = Target::from_url("postgres://u@db.internal/d?sslmode=require", 1);
    target.ssl_mode = Some(PgSslMode::Disable);
    assert!(matches!(
        target.options().unwrap().get_ssl_mode(),
        PgSslMode::Disable
    ));
}

#[test]
fn passwords_are_masked() {
    let masked = mask_url("postgres://u:secret@db.internal:5432/d");
    assert!(!masked.contains("secret"));
    assert!(masked.contains("db.internal:5432"));
}

#[test]
fn the_target_debug_print_hides_the_url() {
    let target = Target::from_url("postgres://u:hunter2@db.internal/d", 1);
    let printed = format!("{target:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    let e = Target::from_url("postgres://u:hunter2@db.internal:notaport/d", 1)
        .options()
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2"), "{e}");
}
