//! Integration tests of the reconcile layer.
