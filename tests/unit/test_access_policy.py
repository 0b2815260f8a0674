"""The policy table's answer for a route it does not name."""

from __future__ import annotations

from application.api_access.policy import decide
from application.principals import Principal


def test_a_route_missing_from_the_policy_is_refused_to_every_role_instead_of_raising() -> None:
    for role in ("user", "analyst", "admin", "auditor", "service"):
        decision = decide("options_handler", Principal(subject="someone", role=role))
        assert not decision.allowed
        assert decision.reason == "this route is not in the access policy"
