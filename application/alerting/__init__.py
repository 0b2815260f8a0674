"""Alerting: the alert file's rules evaluated on the service's own signals, notifications from an outbox."""
