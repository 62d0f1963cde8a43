//! Why a payment could not be applied.

use crate::dispatch::EnsureJobError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the session names no order and carries no customer email")]
    Unattributable,
    #[error(transparent)]
    Job(EnsureJobError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<EnsureJobError> for ApplyError {
    fn from(e: EnsureJobError) -> Self {
        match e {
            EnsureJobError::Database(e) => ApplyError::Database(e),
            other => ApplyError::Job(other),
        }
    }
}
