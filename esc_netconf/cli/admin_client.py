"""The admin REST API as ``escadm`` sees it: a few blocking JSON calls with HTTP basic auth.

The standard library's ``urllib`` is enough for four requests and keeps ``escadm`` quick to start
(no aiohttp import, no event loop). Errors become the CLI error types: a refusal (HTTP 4xx/5xx with a
JSON ``error``) is :class:`RequestRefused` carrying the server's sentence; anything that prevents an
answer is :class:`ServerUnreachable`.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from esc_netconf.cli.errors import RequestRefused, ServerUnreachable, UsageError

DEFAULT_URL = "http://127.0.0.1:8080"
SETTINGS_PATH = "/ESCManager/admin/vimmanager/settings"
RELOAD_PATH = "/ESCManager/admin/vimmanager/reload"
STATUS_PATH = "/ESCManager/admin/status"
_API_SUFFIX = "/ESCManager/v0"


def base_url(url: str) -> str:
    """The server's root URL from what the operator typed (the REST URL the server prints is fine too).

    :raises UsageError: not an http(s) URL with a host.
    """
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"The URL [{url}] must look like http://127.0.0.1:8080.")
    path = parsed.path.rstrip("/")
    if path.endswith(_API_SUFFIX):
        path = path[: -len(_API_SUFFIX)]
    return f"{parsed.scheme}://{parsed.netloc}{path}"


@dataclass(frozen=True, slots=True)
class AdminResponse:
    status: int
    body: Any


class AdminClient:
    """Blocking calls to the admin routes of one server."""

    def __init__(self, url: str, user: str, password: str, timeout: float = 30.0) -> None:
        self._root = base_url(url)
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"
        self._timeout = timeout

    @property
    def root(self) -> str:
        return self._root

    def request(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)) -> AdminResponse:
        """One JSON request; a status outside ``ok`` raises :class:`RequestRefused` with the server's reason.

        :raises ServerUnreachable: no HTTP answer (refused, timed out, not HTTP).
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._root + path, data=data, method=method)
        request.add_header("Authorization", self._auth)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except urllib.error.URLError as error:
            cause = error.reason
            why = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
            raise ServerUnreachable(f"Cannot reach the ESC admin API at {self._root}: {why}.") from None
        except http.client.HTTPException as error:  # something answered, but not HTTP (an SSH port, say)
            raise ServerUnreachable(
                f"The server at {self._root} does not answer HTTP ({type(error).__name__}: {_short(error)})."
            ) from None
        except OSError as error:  # reset, timed out, ...
            raise ServerUnreachable(f"Cannot reach the ESC admin API at {self._root}: {error.strerror or error}.") from None
        parsed = _json(raw)
        if status == 401:
            raise ServerUnreachable(f"The ESC admin API at {self._root} refused the credentials.")
        if status not in ok:
            reason = parsed.get("error") if isinstance(parsed, dict) else None
            text = reason or (raw.decode("utf-8", "replace").strip() or f"HTTP {status}")
            raise RequestRefused(str(text))
        return AdminResponse(status, parsed)

    def settings(self) -> dict[str, str]:
        body = self.request("GET", SETTINGS_PATH).body
        if not isinstance(body, dict):
            raise RequestRefused("The server's settings are not a JSON object.")
        return {str(key): str(value) for key, value in body.items()}

    def set_settings(self, changes: dict[str, str]) -> dict[str, str]:
        """All or nothing: the server validates every key before it changes any."""
        body = self.request("PUT", SETTINGS_PATH, changes).body
        updated = body.get("updated") if isinstance(body, dict) else None
        if not isinstance(updated, dict):
            raise RequestRefused("The server did not say which settings it updated.")
        return {str(key): str(value) for key, value in updated.items()}

    def reload_settings(self) -> None:
        self.request("POST", RELOAD_PATH)

    def ha(self) -> dict[str, Any]:
        """``{"role", "node", "active"}``: this server's place in its group (CONTRACT section 8)."""
        body = self.request("GET", HA_PATH).body
        if not isinstance(body, dict):
            raise RequestRefused("The server did not say its role.")
        return body

    def switchover(self, to: str | None) -> dict[str, Any]:
        """Ask the active to hand its role over (to the standby ``to``, or any); the new active's view.

        The server answers only once the new active took the role (or it gave up: a refusal)."""
        body = self.request("POST", SWITCHOVER_PATH, {"to": to} if to else None).body
        if not isinstance(body, dict) or not isinstance(body.get("active"), dict):
            raise RequestRefused("The server did not say which member is the active now.")
        return body

    def status(self) -> AdminResponse:
        """``{part: {ok, ...}}``; 503 (some part down) is an answer here, not a refusal."""
        return self.request("GET", STATUS_PATH, ok=(200, 503))


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
    return text if len(text) <= 80 else text[:77] + "..."


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


HA_PATH = "/ESCManager/v0/ha"
SWITCHOVER_PATH = HA_PATH + "/switchover"


def connect_active(urls: str, user: str, password: str, timeout: float = 30.0) -> AdminClient:
    """``escadm --url a,b``: a client of the first URL whose server says it is the active of its group
    (CONTRACT section 8); one URL is used as given.

    :raises ServerUnreachable: none of them is active now; the message says why for each.
    """
    listed = [part.strip() for part in urls.split(",")]
    if len(listed) == 1:
        return AdminClient(listed[0], user, password, timeout)
    reasons = []
    for url in listed:
        if not url:
            raise UsageError(f"The URL list [{urls}] has an empty entry.")
        client = AdminClient(url, user, password, timeout)
        try:
            answer = client.request("GET", HA_PATH)
        except (ServerUnreachable, RequestRefused) as exc:
            reasons.append(f"{client.root}: {exc.message}")
            continue
        role = answer.body.get("role") if isinstance(answer.body, dict) else None
        if role == "active":
            return client
        reasons.append(f"{client.root} is a {role or 'server that does not say its role'}")
    raise ServerUnreachable("No active ESC among the URLs given: " + "; ".join(reasons))
