//! Integration tests of the webhook layer.
