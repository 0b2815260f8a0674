"""Alerting's adapters: its tables (SQLite or PostgreSQL), the alert file (YAML), and the senders."""
