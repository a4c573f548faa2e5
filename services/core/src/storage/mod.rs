//! The object store, in one place: [`open`] by URL, [`Hooked`] (the one forwarding wrapper:
//! metering, the synced local directory and the test store are hooks on it), and what a
//! failure means for the caller ([`Failure`]): retry soon, or report a problem that retrying
//! alone will not fix.

#[cfg(any(test, feature = "test-util"))]
mod faulty;
mod hooked;
mod open;

#[cfg(any(test, feature = "test-util"))]
pub use faulty::{Faults, FaultyStore, faulty_store};
pub use hooked::{Hooked, Hooks, Op, Outcome};
pub use open::open;

/// The kind of an object-store failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A timeout, a reset or refused connection, `5xx`, `503 SlowDown`: retry with backoff.
    Transient,
    /// The store refuses the request as made (credentials, permissions, a missing bucket, an
    /// unsupported operation): it needs an operator. Retrying slowly is still right, since the
    /// records must not be dropped, and the problem may be fixed while the node runs.
    Permanent(&'static str),
}

impl Failure {
    /// Returns whether retrying alone may succeed.
    pub fn is_transient(self) -> bool {
        self == Failure::Transient
    }
}

/// Classifies a failed write (PUT, multipart upload) of an object.
pub fn classify_write(e: &object_store::Error) -> Failure {
    use object_store::Error as E;
    match e {
        E::PermissionDenied { .. } => Failure::Permanent(
            "access denied (403): the credentials may not write this bucket; check the bucket policy",
        ),
        E::Unauthenticated { .. } => Failure::Permanent(
            "the credentials were rejected (401): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        // A write finds no object to miss: the bucket itself is not there.
        E::NotFound { .. } => Failure::Permanent("the bucket does not exist (404)"),
        E::InvalidPath { .. } | E::NotSupported { .. } | E::UnknownConfigurationKey { .. } => {
            Failure::Permanent("the object store does not support the request")
        }
        _ => Failure::Transient,
    }
}

/// Classifies a failed read (GET, HEAD) of an object known to exist (a missing object is the
/// caller's to interpret).
pub fn classify_read(e: &object_store::Error) -> Failure {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => Failure::Transient,
        other => classify_write(other),
    }
}

#[cfg(test)]
mod tests;
