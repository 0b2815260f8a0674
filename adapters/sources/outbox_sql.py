"""The SQL ``addvalue outbox install`` runs in the app's database, and the example triggers ``outbox sql`` adds.

Everything lives in the schema ``addvalue_outbox``: the table ``events`` of
emitted events and the function ``emit(event jsonb)``. Every statement may run
again: installing twice changes nothing.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CHANNEL", "INSTALL_SQL", "SCHEMA", "TRIGGER_EXAMPLES", "UNINSTALL_SQL"]

SCHEMA: Final = "addvalue_outbox"
# What emit() notifies on; a notification is delivered at commit, and never for a transaction rolled back.
CHANNEL: Final = "addvalue_outbox"

INSTALL_SQL: Final = """\
-- AddValue Analytics: the transactional outbox (addvalue outbox install). Safe to run again.
CREATE SCHEMA IF NOT EXISTS addvalue_outbox;

CREATE TABLE IF NOT EXISTS addvalue_outbox.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload jsonb NOT NULL,
    emitted_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'rejected')),
    handled_at timestamptz,
    reasons jsonb
);
CREATE INDEX IF NOT EXISTS events_pending ON addvalue_outbox.events (id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_delivered ON addvalue_outbox.events (handled_at) WHERE state = 'delivered';

-- Records one catalog event in the caller's transaction. event_id (a new UUID) and timestamp (the
-- transaction's time) are filled in when absent; anything else is judged by the catalog on delivery.
CREATE OR REPLACE FUNCTION addvalue_outbox.emit(event jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $emit$
DECLARE
    row_id bigint;
BEGIN
    INSERT INTO addvalue_outbox.events (payload)
    VALUES (CASE WHEN jsonb_typeof(event) = 'object'
                 THEN jsonb_build_object('event_id', gen_random_uuid(), 'timestamp', now()) || event
                 ELSE coalesce(event, 'null'::jsonb) END)
    RETURNING id INTO row_id;
    PERFORM pg_notify('addvalue_outbox', '');
    RETURN row_id;
END
$emit$;
-- Only the installing role (and superusers) may emit; grant EXECUTE to the roles whose functions call it.
REVOKE ALL ON FUNCTION addvalue_outbox.emit(jsonb) FROM PUBLIC;
"""


def _example(function: str, table: str, *, emits: str, fields: str) -> str:
    """One example trigger, commented out: a row inserted in ``table`` emits an event in the server's context."""
    body = f"""\
CREATE OR REPLACE FUNCTION public.{function}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM addvalue_outbox.emit(jsonb_build_object(
        'event_name', '{emits}',
{fields}
        'context', jsonb_build_object('device_type', 'mobile', 'platform', 'ios', 'app_version', 'server',
                                      'locale', 'en-US', 'timezone', 'UTC'),
        'privacy', jsonb_build_object('consent_given', true, 'ip_anonymized', true)));
    RETURN NEW;
END
$$;
CREATE TRIGGER {function} AFTER INSERT ON {table}
    FOR EACH ROW EXECUTE FUNCTION public.{function}();"""
    return "".join(f"-- {line}\n" for line in body.splitlines())


TRIGGER_EXAMPLES: Final = (
    """\
--- Examples: remove the leading "-- " of the statements you want, and adapt context and properties to your app.
--- Trigger functions are SECURITY DEFINER, so they may call emit() whoever inserts the row.
--- The person must have a consent record in AddValue Analytics (a user_consent_update), or the event is
--- counted as not collected.
---
--- A row inserted in auth.users (Supabase) -> user_signup
"""
    + _example(
        "addvalue_user_signup",
        "auth.users",
        emits="user_signup",
        fields="""\
        'event_category', 'user', 'user_id', NEW.id, 'session_id', 'signup-' || NEW.id, 'timestamp', NEW.created_at,
        'properties', jsonb_build_object('signup_method', coalesce(NEW.raw_app_meta_data ->> 'provider', 'email')),""",
    )
    + """\
---
--- A row inserted in a follows table (follower_id, followed_id) -> user_followed
"""
    + _example(
        "addvalue_user_followed",
        "public.follows",
        emits="user_followed",
        fields="""\
        'event_category', 'community', 'user_id', NEW.follower_id, 'session_id', 'db-' || NEW.follower_id,
        'properties', jsonb_build_object('followed_user_id', NEW.followed_id),""",
    )
)

UNINSTALL_SQL: Final = "DROP SCHEMA IF EXISTS addvalue_outbox CASCADE;\n"
