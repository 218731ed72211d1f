"""Who may call the service: API keys, or nobody but the local machine.

The rule (``NEOVASC_AUTH``, see docs/http.md#authentication):

- ``auto`` (the default): keys are required when ``NEOVASC_API_KEYS_FILE`` is set. Without it the service
  asks for no key, so a newcomer's ``make run`` works out of the box, but it answers only requests that
  arrive on a loopback address.
- ``on``: keys are always required; the keys file must be set.
- ``off``: no key is asked (local single-user use), and again only loopback requests are answered.

Without keys the service refuses to start when ``NEOVASC_HOST`` is not a loopback address, and every
request that arrives on another address (``neovasc serve --host 0.0.0.0``) is refused with 401. Only
``GET /healthz`` and the web page (``/`` and its static files under ``/ui/``) are open to all: the page holds
no data, and asks for a key when a call it makes answers 401. ``GET /readyz`` answers all, but without a key
only whether the service is ready.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.errors import Unauthorized, UsageError

from .context import audit_record
from .keys import KeyRing, KeysFileError, read_keys
from .problems import send_problem

PAGE_PATH = "/"
STATIC_PREFIX = "/ui/"
REFERENCE_PATH = "/docs"  # the HTTP API reference page (app/web/static/reference.html); its data needs a key
OPEN_PATHS = frozenset({"/healthz", PAGE_PATH, REFERENCE_PATH})
# Answered to anyone, but what they show depends on the key: /readyz says only whether the service is ready.
BRIEF_WITHOUT_KEY = frozenset({"/readyz"})
_AUTHENTICATED = "neovasc_authenticated"  # in the request's scope["state"], set by ApiKeyAuth
_CHALLENGE = (b"www-authenticate", b'Bearer realm="neovasc"')


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthPolicy:
    """``keys`` None: no key asked, loopback requests only; else a request needs one of the keys."""

    keys: KeyRing | None

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        """The policy the settings ask for; raises UsageError for a setup that would be open to the network."""
        path = settings.api_keys_file
        if settings.auth == "on" and path is None:
            raise UsageError("NEOVASC_AUTH=on needs NEOVASC_API_KEYS_FILE; create one with 'neovasc keys add NAME'")
        if settings.auth != "off" and path is not None:
            try:
                read_keys(path)
            except KeysFileError as exc:
                raise UsageError(f"NEOVASC_API_KEYS_FILE: {exc}; create it with 'neovasc keys add NAME'") from exc
            return cls(KeyRing(path))
        if not is_loopback(settings.host):
            raise UsageError(
                f"refusing to serve on {settings.host} (--host or NEOVASC_HOST) without API keys: create a key with "
                "'neovasc keys add NAME' and set NEOVASC_API_KEYS_FILE (NEOVASC_AUTH=off is for 127.0.0.1 only)"
            )
        return cls(None)


def is_open(path: str | None) -> bool:
    """True for the paths anyone may fetch: ``/healthz``, the page and its files (no ``..`` segments)."""
    if path in OPEN_PATHS:
        return True
    return path is not None and path.startswith(STATIC_PREFIX) and ".." not in path.split("/")


def presented_key(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, or None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


def _refusal(policy: AuthPolicy, scope: Scope) -> Unauthorized | None:
    """Why the request may not pass, or None; records the key's name for the audit line."""
    if policy.keys is None:
        server = scope.get("server") or (None, None)
        if is_loopback(server[0]):
            return None
        return Unauthorized(
            "this service has no API keys and answers only on a loopback address; create a key with "
            "'neovasc keys add NAME' and set NEOVASC_API_KEYS_FILE to serve other machines"
        )
    key = presented_key(scope)
    if key is None:
        return Unauthorized("send an API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    name = policy.keys.verify(key)
    if name is None:
        return Unauthorized("the API key is not one this service holds (unknown, removed or mistyped)")
    audit_record(scope).key = name
    return None


class ApiKeyAuth:
    """ASGI middleware: every route but ``/healthz`` and the page needs a key (or, without keys, a loopback connection);
    ``/readyz`` passes without one, marked unauthenticated (``authenticated``), and shows less.

    It sits in front of the routes, so an unknown path answers 401 too and reveals nothing without a key.
    """

    def __init__(self, app: ASGIApp, policy: AuthPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_open(scope.get("path")):
            refusal = _refusal(self.policy, scope)
            if scope.get("path") in BRIEF_WITHOUT_KEY:
                scope.setdefault("state", {})[_AUTHENTICATED] = refusal is None
            elif refusal is not None:
                await send_problem(send, refusal, scope.get("path"), [_CHALLENGE])
                return
        await self.app(scope, receive, send)


def authenticated(request: HTTPConnection) -> bool:
    """Whether ``ApiKeyAuth`` let the request through on its key (or, without keys, its loopback address);
    False for a request to a path in ``BRIEF_WITHOUT_KEY`` that came without either."""
    return bool(request.scope.get("state", {}).get(_AUTHENTICATED, False))
