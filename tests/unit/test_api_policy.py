"""The API's access policy, without a server."""

from __future__ import annotations

import pytest

from ccd.api.policy import ROUTE_ROLES, require_agent_self, require_role
from ccd.api.problems import ApiProblem
from ccd.domain.auth import Principal, Role

AGENT_1001 = Principal("t-1", Role.AGENT, "1001")


def test_agent_may_act_on_itself() -> None:
    require_agent_self(AGENT_1001, "1001")


@pytest.mark.parametrize("other", ["1002", "", "10011", " 1001"])
def test_agent_acting_on_another_agent_is_403(other: str) -> None:
    with pytest.raises(ApiProblem) as refused:
        require_agent_self(AGENT_1001, other)
    assert refused.value.status == 403


def test_agent_token_without_agent_id_may_act_on_no_agent() -> None:
    with pytest.raises(ApiProblem) as refused:
        require_agent_self(Principal("t-2", Role.AGENT, None), "1001")
    assert refused.value.status == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR, Role.INTEGRATOR])
def test_other_roles_are_not_limited_to_one_agent(role: Role) -> None:
    require_agent_self(Principal("t-3", role, None), "1002")


@pytest.mark.parametrize(
    ("route", "role", "allowed"),
    [
        ("calls.list", Role.INTEGRATOR, True),
        ("calls.list", Role.AGENT, False),
        ("calls.originate", Role.SUPERVISOR, True),
        ("calls.originate", Role.INTEGRATOR, False),
        ("calls.hangup", Role.AGENT, False),
        ("events.stream", Role.AGENT, False),
        ("me", Role.AGENT, True),
        ("no.such.route", Role.ADMIN, False),  # unknown routes fail closed
    ],
)
def test_require_role(route: str, role: Role, allowed: bool) -> None:
    principal = Principal("t-4", role, "1001" if role is Role.AGENT else None)
    if allowed:
        require_role(principal, route)
    else:
        with pytest.raises(ApiProblem) as refused:
            require_role(principal, route)
        assert refused.value.status == 403


# Listening to a conversation is a supervisory act (README, "Live monitoring"), and only the
# evaluated agent acknowledges an evaluation (README, "Quality evaluation"): what an admin
# token may not do.
SUPERVISORY_ACTS = frozenset(name for name in ROUTE_ROLES if name.startswith("monitors."))
NOT_FOR_ADMINS = SUPERVISORY_ACTS | {"quality.evaluations.acknowledge"}


def test_admin_may_call_every_route_but_a_few() -> None:
    assert SUPERVISORY_ACTS, "the monitoring routes are in the policy"
    assert [name for name, roles in ROUTE_ROLES.items() if Role.ADMIN not in roles] == [
        name for name in ROUTE_ROLES if name in NOT_FOR_ADMINS
    ]
    assert all(ROUTE_ROLES[name] == {Role.SUPERVISOR} for name in SUPERVISORY_ACTS)
