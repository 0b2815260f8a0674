"""Who is calling: the subject of a verified token and the role it grants."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

__all__ = ["Principal", "Role", "SenderRole"]

# The roles a token may carry.
Role = Literal["user", "service", "analyst", "admin", "auditor"]
# Who may send events: a token's role, or a Segment/RudderStack write key (never a token's role).
SenderRole = Role | Literal["write_key"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """``subject`` is the token's ``sub``: the app's user id for role ``user``; a write key's source name."""

    subject: str
    role: SenderRole

    @classmethod
    def write_key(cls, source: str) -> Principal:
        """A Segment/RudderStack write key: shipped inside the app, so public; it names a source, not a person."""
        return cls(subject=source, role="write_key")

    @property
    def label(self) -> str:
        """The sender as records name it: ``user:<id>``, ``service:<sub>``, ``admin:<sub>``, ``write_key:<source>``."""
        return f"{self.role}:{self.subject}"

    def may_send_for(self, app_user_id: UUID) -> bool:
        """A person sends only their own events; a server-side source or an SDK's write key sends anyone's."""
        if self.role in ("service", "write_key"):
            return True
        return self.role == "user" and self.subject_uuid() == app_user_id

    def subject_uuid(self) -> UUID | None:
        """``sub`` as a UUID, however it is spelled (case, hyphens), or None."""
        try:
            return UUID(self.subject)
        except ValueError:
            return None
