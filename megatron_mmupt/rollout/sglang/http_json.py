"""JSON over HTTP with timeouts and retries (standard library only): what every engine call goes through.

Faults and what they become:
    connection refused / reset, timeout, HTTP 5xx  -> retried with backoff, then ``EngineUnavailable``
    HTTP 4xx                                        -> ``EngineRequestError`` at once, with the server's message
Every attempt has a socket timeout, so a dead or stuck server costs at most
``(retries + 1) * (timeout + backoff)`` seconds, never a hang.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from megatron_mmupt.rollout.errors import EngineError, EngineUnavailable


class EngineRequestError(EngineError):
    """The engine refused a request (HTTP 4xx); retrying the same request would not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def request_json(
    url: str,
    body: Any = None,
    *,
    method: str = "POST",
    timeout_s: float,
    retries: int,
    backoff_s: float,
    retry_status: tuple[int, ...] = (),
) -> Any:
    """Send ``body`` as JSON, return the decoded answer (``None`` for an empty one, text if not JSON).

    ``retry_status`` lists 4xx codes that mean "busy, try again" for this endpoint (``/flush_cache``: 400).
    """
    data = None if body is None else json.dumps(body).encode()
    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return _decode(response.read())
        except urllib.error.HTTPError as e:
            message = _error_message(e.read())
            if e.code >= 500 or e.code in retry_status:
                last = f"HTTP {e.code}: {message}"
                continue
            raise EngineRequestError(f"{method} {url} was refused (HTTP {e.code}): {message}", e.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(reason).__name__}: {reason}"
    raise EngineUnavailable(f"{method} {url} failed after {retries + 1} attempts (timeout {timeout_s}s each): {last}")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw.decode(errors="replace")


def _error_message(raw: bytes) -> str:
    """SGLang answers ``{"error": {"message": ...}}``, ``{"error": "..."}`` or ``{"success": false, "message"}``."""
    body = _decode(raw)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))
        if error is not None:
            return str(error)
        if "message" in body:
            return str(body["message"])
    return str(body)
