"""POST alert events to a webhook, with retries and exponential backoff (stdlib only)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from ..errors import TracedeskError, choices_hint


class WebhookError(TracedeskError, RuntimeError):
    """Every attempt failed; the message says what the last one got."""


def post_json(url: str, payload: Any, *, retries: int = 3, backoff_s: float = 0.5, timeout_s: float = 10.0,
              sleep: Callable[[float], None] = time.sleep) -> int:
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


# ---------------------------------------------------------------------------------------------
# Payload shapes. An event is what `check` prints (evaluate.event_for_group + states.check_states).

WEBHOOK_FORMATS: tuple[str, ...] = ("json", "slack", "pagerduty")
#: tracedesk severity -> PagerDuty Events v2 payload.severity (critical, error, warning, info)
_PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info"}


def summary_line(event: dict[str, Any]) -> str:
    """'[FIRING] rag-regression route=refunds: eval_score(groundedness) mean < 0.6 (0.41) ...'"""
    kind = (event.get("notification") or ("firing" if event.get("firing") else "ok")).upper()
    where = ", ".join(f"{k}={v}" for k, v in {**{k: "|".join(v) for k, v in event.get("scope", {}).items()},
                                              **event.get("group", {})}.items()) or "all traffic"
    conds = "; ".join(f"{c['label']} ({c['value']})" for c in event.get("conditions", []) if c.get("firing"))
    text = f"[{kind}] {event['alert']} {where}"
    if kind in ("FIRING", "RENOTIFY") and conds:
        text += f": {conds}"
    if event.get("reason") == "no_data":
        text += " (no data)"
    return text


def slack_payload(event: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the notification fallback) and Block Kit sections."""
    text = summary_line(event)
    fields = [f"*severity* {event.get('severity', '')}", f"*at* {event.get('at', '')}",
              f"*dedupe key* `{event.get('dedupe_key', '')}`"]
    if event.get("since"):
        fields.append(f"*since* {event['since']}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if event.get("runbook"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Runbook: {event['runbook']}"[:3000]}]})
    return {"text": text, "blocks": blocks}


def pagerduty_payload(event: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event (POST https://events.pagerduty.com/v2/enqueue): trigger on
    firing/renotify (same dedup_key: PagerDuty appends to the open incident), resolve on resolved."""
    action = "resolve" if event.get("notification") == "resolved" else "trigger"
    out: dict[str, Any] = {"routing_key": routing_key, "event_action": action,
                           "dedup_key": event.get("dedupe_key") or event["alert"]}
    if action == "trigger":
        out["payload"] = {
            "summary": summary_line(event)[:1024],
            "source": "tracedesk",
            "severity": _PD_SEVERITY.get(event.get("severity", "medium"), "warning"),
            "timestamp": event.get("at"),
            "component": ",".join(f"{k}={v}" for k, v in event.get("group", {}).items()) or None,
            "group": event["alert"],
            "class": "tracedesk-alert",
            "custom_details": {k: event.get(k) for k in ("scope", "group", "conditions", "since", "reason", "runbook",
                                                          "owner", "window")},
        }
        out["payload"] = {k: v for k, v in out["payload"].items() if v is not None}
        out["client"] = "tracedesk"
    return out


def format_payload(event: dict[str, Any], fmt: str, routing_key: str | None = None) -> dict[str, Any]:
    """The body to POST for one event in a webhook format (json = the event itself)."""
    if fmt == "json":
        return event
    if fmt == "slack":
        return slack_payload(event)
    if fmt == "pagerduty":
        if not routing_key:
            raise ValueError("the pagerduty format needs a routing key: --routing-key KEY or "
                             "$TRACEDESK_PAGERDUTY_ROUTING_KEY (the integration key of an Events API v2 service)")
        return pagerduty_payload(event, routing_key)
    raise ValueError(f"unknown webhook format {fmt!r}; {choices_hint(fmt, WEBHOOK_FORMATS)}")
