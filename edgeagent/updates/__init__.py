"""Signed update bundles: build and verify (bundle), install with rollback (apply)."""
