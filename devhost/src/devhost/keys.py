"""Host keys, kept in the state dir so a restart keeps the URLs a user already copied.

Azure's model: the master key opens everything (admin level); function-level endpoints also accept a
function key (devhost has one, "default", valid for every function); system keys (here
`eventgrid_extension`) authorize extension webhooks."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web


def same_key(given: object, expected: str) -> bool:
    """Constant-time compare of UTF-8 bytes: compare_digest refuses non-ASCII str (a hostile key
    must be a 401, not a 500)."""
    return hmac.compare_digest(str(given).encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(30)).decode().rstrip("=") + "=="


@dataclass
class HostKeys:
    master: str
    function_default: str
    eventgrid_extension: str
    durabletask_extension: str
    master_generated: bool = False

    @classmethod
    def load(cls, state_dir: Path, master_key: str | None) -> HostKeys:
        """--master-key-file, then FUNCTIONS_MASTER_KEY, then the one stored earlier, then a new one."""
        path = state_dir / "keys.json"
        stored: dict[str, str] = {}
        if path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                stored = {}
        explicit = master_key or os.environ.get("FUNCTIONS_MASTER_KEY")
        generated = not explicit and "master" not in stored
        keys = cls(
            master=explicit or stored.get("master") or _new_key(),
            function_default=stored.get("function_default") or _new_key(),
            eventgrid_extension=stored.get("eventgrid_extension") or _new_key(),
            durabletask_extension=stored.get("durabletask_extension") or _new_key(),
            master_generated=generated,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        stored_now = {
            "function_default": keys.function_default,
            "eventgrid_extension": keys.eventgrid_extension,
            "durabletask_extension": keys.durabletask_extension,
        }
        if not explicit:
            stored_now["master"] = keys.master
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(stored_now, indent=2))
        with contextlib.suppress(OSError):
            path.chmod(0o600)
        return keys

    def is_master(self, key: str | None) -> bool:
        return bool(key) and same_key(key, self.master)

    def allows(self, level: str, key: str | None) -> bool:
        level = (level or "function").lower()
        if level == "anonymous":
            return True
        if level == "admin":
            return self.is_master(key)
        return self.is_master(key) or (bool(key) and same_key(key, self.function_default))

    def allows_system(self, key: str | None, extension: str = "eventgrid_extension") -> bool:
        expected = getattr(self, extension)
        return self.is_master(key) or (bool(key) and same_key(key, expected))


def request_key(request: web.Request) -> str | None:
    return request.query.get("code") or request.headers.get("x-functions-key")
