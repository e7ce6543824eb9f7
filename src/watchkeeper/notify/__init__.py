"""Notifications: an outbox written before anything is sent, delivered once, retried with backoff."""
