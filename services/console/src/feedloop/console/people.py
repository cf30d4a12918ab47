"""Who is asking and what they may do: local login, trusted proxy headers, roles, CSRF."""

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from feedloop.common.problems import Problem
from feedloop.console.settings import ROLE_RANK, ConsoleSettings, Role


@dataclass(frozen=True)
class Person:
    """A signed-in person and the role the console grants them."""

    name: str
    role: Role
    via: str  # "local" (seeded login) or "proxy" (trusted reverse proxy header)

    def may(self, role: Role) -> bool:
        """True when this person's role is at least `role`."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class NotSignedIn(Exception):
    """No identity: local mode sends the browser to the login page, elsewhere it is a 401."""


def settings_of(request: Request) -> ConsoleSettings:
    """Returns the app's settings."""
    settings: ConsoleSettings = request.app.state.settings
    return settings


def role_of(settings: ConsoleSettings, user: str, groups: list[str]) -> Role | None:
    """The highest role mapped to the user or one of their groups, else the default role."""
    found = [settings.roles[k] for k in [user, *groups] if k in settings.roles]
    if not found:
        return settings.default_role
    return max(found, key=lambda r: ROLE_RANK[r])


def identify(request: Request) -> Person | None:
    """The person behind a request, or None.

    A proxy header counts only when the peer address is a configured proxy; a session made by
    the seeded login counts only in local mode.
    """
    settings = settings_of(request)
    peer = request.client.host if request.client else None
    user = request.headers.get(settings.proxy_user_header)
    if user and settings.proxy_trusted(peer):
        raw_groups = request.headers.get(settings.proxy_groups_header, "")
        groups = [g.strip() for g in raw_groups.split(",") if g.strip()]
        role = role_of(settings, user.strip(), groups)
        if role is None:
            raise Problem(403, "Forbidden", f"{user!r} has no role in the console")
        return Person(name=user.strip(), role=role, via="proxy")
    session_user = request.session.get("user")
    if settings.local_login and session_user == settings.local_user:
        return Person(name=session_user, role=settings.local_role, via="local")
    return None


def current_person(request: Request) -> Person:
    """Demands a signed-in person (any role)."""
    person = identify(request)
    if person is None:
        raise NotSignedIn
    request.state.person = person
    return person


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, csrf: str) -> None:
    """Refuses a form whose token is not the session's."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, csrf):
        raise Problem(403, "Forbidden", "the form's CSRF token is missing or wrong", field="csrf")


def requires(role: Role) -> Any:
    """A dependency for a form POST: a signed-in person with at least `role`, valid CSRF."""

    async def dependency(
        request: Request, csrf: Annotated[str, Form(max_length=200)] = ""
    ) -> Person:
        person = current_person(request)
        check_csrf(request, csrf)
        if not person.may(role):
            raise Problem(
                403,
                "Forbidden",
                f"{person.name!r} is {person.role}; this action needs the {role} role",
                required_role=role,
            )
        return person

    return Depends(dependency)


PersonDep = Annotated[Person, Depends(current_person)]
SettingsDep = Annotated[ConsoleSettings, Depends(settings_of)]
