"""Who is calling: the subject of a verified token and the role it grants."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

__all__ = ["Principal", "Role"]

Role = Literal["user", "service", "analyst", "admin", "auditor"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """``subject`` is the token's ``sub``: the app's user id for role ``user``."""

    subject: str
    role: Role

    def may_send_for(self, app_user_id: UUID) -> bool:
        """A person sends only their own events; a server-side source sends anyone's."""
        if self.role == "service":
            return True
        return self.role == "user" and self.subject_uuid() == app_user_id

    def subject_uuid(self) -> UUID | None:
        """``sub`` as a UUID, however it is spelled (case, hyphens), or None."""
        try:
            return UUID(self.subject)
        except ValueError:
            return None
