"""POST alert events to a webhook, with retries and exponential backoff (stdlib only)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from ..errors import TracedeskError


class WebhookError(TracedeskError, RuntimeError):
    """Every attempt failed; the message says what the last one got."""


def post_json(url: str, payload: Any, *, retries: int = 3, backoff_s: float = 0.5, timeout_s: float = 10.0,
              sleep=time.sleep) -> int:
    """POST `payload` as JSON; retry on connection errors, 429 and 5xx (backoff_s, 2x, 4x ...).

    Returns the HTTP status of the accepted attempt. A 4xx other than 429 is not retried: the same
    request would be refused again.
    """
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"webhook URL must start with http:// or https://, got {url!r}")
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "tracedesk-alerts/1"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                raise WebhookError(f"webhook {url} refused the event: {last}") from None
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < retries:
            sleep(backoff_s * (2 ** attempt))
    raise WebhookError(f"webhook {url} failed after {retries + 1} attempts: {last}")
