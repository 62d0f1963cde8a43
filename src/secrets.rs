//! Secret settings given as files (`STRIPE_SECRET_KEY_FILE`, ...), as container platforms
//! mount them (Kubernetes Secret volumes, Docker/compose secrets, systemd credentials).
//!
//! The value never leaves a `SecretString`: an error names the variable and the path, never
//! what the file holds.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Why a secret file could not be used; names the setting and the path only.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {env} {}: {source}", path.display())]
    Unreadable {
        env: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{env} {} is empty", path.display())]
    Empty { env: &'static str, path: PathBuf },
}

/// The secret held in `path`: the file's text without the trailing newline that editors and
/// `echo` add (a key with a newline would be sent as-is and refused).
pub fn read_secret_file(path: &Path, env: &'static str) -> Result<SecretString, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError::Unreadable {
        env,
        path: path.to_owned(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.trim().is_empty() {
        return Err(SecretFileError::Empty {
            env,
            path: path.to_owned(),
        });
    }
    Ok(SecretString::from(value.to_owned()))
}

/// Fills `value` from `file` when a file is given (clap makes the two mutually exclusive).
pub fn fill_from_file(
    value: &mut Option<SecretString>,
    file: &Option<PathBuf>,
    env: &'static str,
) -> Result<(), SecretFileError> {
    if let Some(path) = file {
        *value = Some(read_secret_file(path, env)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn temp_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("h2s-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newline() {
        let path = temp_file("sk_test_from_file\n");
        let secret = read_secret_file(&path, "STRIPE_SECRET_KEY_FILE").unwrap();
        assert_eq!(secret.expose_secret(), "sk_test_from_file");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn a_missing_or_empty_secret_file_names_the_variable_and_not_the_content() {
        let missing = std::env::temp_dir().join("h2s-no-such-secret-file");
        let e = read_secret_file(&missing, "ADMIN_TOKEN_FILE").unwrap_err();
        let line = e.to_string();
        assert!(line.contains("ADMIN_TOKEN_FILE"), "{line}");
        assert!(line.contains("h2s-no-such-secret-file"), "{line}");

        let empty = temp_file("\n");
        let e = read_secret_file(&empty, "ADMIN_TOKEN_FILE").unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        std::fs::remove_file(empty).ok();
    }

    /// Every settings struct with a secret, as the binaries flatten them.
    #[derive(Debug, clap::Parser)]
    struct AllSettings {
        #[command(flatten)]
        api: crate::config::ApiSettings,
        #[command(flatten)]
        worker: crate::config::OutboxSettings,
    }

    #[test]
    fn the_debug_print_of_the_settings_shows_no_secret() {
        use clap::Parser;
        let secrets = [
            "hunter2pw",
            "sk_test_debugkey",
            "whsec_debugsecret",
            "admintokendebug",
            "https://hooks.example/services/T0DEBUG",
        ];
        let settings = AllSettings::try_parse_from([
            "test",
            "--database-url",
            "postgres://u:hunter2pw@db.example/d",
            "--stripe-secret-key",
            secrets[1],
            "--stripe-webhook-secret",
            secrets[2],
            "--admin-token",
            secrets[3],
            "--notify-webhook-url",
            secrets[4],
        ])
        .unwrap();
        let printed = format!("{settings:?}");
        for secret in secrets {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert_eq!(
            settings
                .api
                .process
                .stripe
                .stripe_secret_key
                .unwrap()
                .expose_secret(),
            secrets[1]
        );
    }

    #[test]
    fn a_file_overrides_nothing_when_not_given() {
        let mut value = Some(SecretString::from("from-env"));
        fill_from_file(&mut value, &None, "ADMIN_TOKEN_FILE").unwrap();
        assert_eq!(value.unwrap().expose_secret(), "from-env");
    }
}
