"""Cohort dimensions: which span/resource attributes become `route`, `tenant`, `prompt_version`, ...

The mapping is user-editable data stored in the settings table under key "dimensions"
({dimension: [attribute keys, first present wins]}). Dimensions listed in models.COLUMN_DIMENSIONS get
their own indexed column; any other dimension lands in `Span.dims`.

A key may reach into a JSON-object attribute: "metadata.route" first looks for the attribute
"metadata.route", then for "route" inside the attribute "metadata" (OpenInference puts metadata there).
"""
from __future__ import annotations

from typing import Any

import orjson

SETTING_KEY = "dimensions"

DEFAULT_DIMENSIONS: dict[str, list[str]] = {
    # The application's own statements first; `http.route` (the web framework's path template) last: a span
    # carrying both is read as the app says. Per trace, a value the LLM spans state also beats a plain server
    # root's http.route (tracedesk.store.summaries).
    "route": [
        "app.route", "route", "traceloop.association.properties.route",
        "langfuse.trace.metadata.route", "langfuse.observation.metadata.route", "ai.telemetry.metadata.route",
        "metadata.route", "langsmith.metadata.route", "tag.route", "http.route",
    ],
    "tenant": [
        "tenant.id", "tenant", "app.tenant", "tenant_id", "traceloop.association.properties.tenant",
        "traceloop.association.properties.tenant_id", "langfuse.trace.metadata.tenant",
        "ai.telemetry.metadata.tenant", "ai.telemetry.metadata.tenantId", "metadata.tenant", "metadata.tenant_id", "langsmith.metadata.tenant",
    ],
    "prompt_version": [
        "llm.prompt_template.version", "traceloop.prompt.version", "langfuse.observation.prompt.version",
        "gen_ai.prompt.template.version", "prompt.version", "gen_ai.prompt.version", "prompt_version",
        "app.prompt_version", "metadata.prompt_version", "traceloop.association.properties.prompt_version",
        "ai.telemetry.metadata.promptVersion", "ai.telemetry.metadata.prompt_version",
        "langfuse.trace.metadata.prompt_version",
    ],
    "environment": [
        "deployment.environment.name", "deployment.environment", "langfuse.environment",
        "gen_ai.environment", "environment", "metadata.environment", "ai.telemetry.metadata.environment",
    ],
}

#: Attributes that may hold a JSON object of metadata (so "metadata.route" can reach inside).
JSON_CONTAINERS: tuple[str, ...] = ("metadata", "langsmith.metadata", "traceloop.association.properties")


def load_dimensions(db: Any) -> dict[str, list[str]]:
    """The mapping stored in the database, or the defaults."""
    from ..store import get_setting

    stored = get_setting(db, SETTING_KEY)
    return validate_dimensions(stored) if stored else {k: list(v) for k, v in DEFAULT_DIMENSIONS.items()}


def save_dimensions(db: Any, mapping: dict[str, list[str]]) -> dict[str, list[str]]:
    """Validate and store a mapping; applies to spans ingested from now on."""
    from ..store import set_setting

    clean = validate_dimensions(mapping)
    set_setting(db, SETTING_KEY, clean)
    return clean


def validate_dimensions(mapping: Any) -> dict[str, list[str]]:
    if not isinstance(mapping, dict):
        raise ValueError("The dimension mapping must be an object {dimension: [attribute, ...]}.")
    clean: dict[str, list[str]] = {}
    for name, keys in mapping.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Dimension name {name!r} must be a simple identifier like 'route'.")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"Dimension {name!r} needs a list of attribute names.")
        clean[name] = list(keys)
    return clean


class DimensionExtractor:
    """Compiled mapping: fast per-span extraction."""

    def __init__(self, mapping: dict[str, list[str]] | None = None) -> None:
        self.mapping = mapping or DEFAULT_DIMENSIONS
        self.items = tuple((name, tuple(keys)) for name, keys in self.mapping.items())
        # (key, container, inner key) for keys that may live inside a JSON container
        self.nested: dict[str, tuple[str, str]] = {}
        for keys in self.mapping.values():
            for key in keys:
                for container in JSON_CONTAINERS:
                    if key.startswith(container + "."):
                        self.nested[key] = (container, key[len(container) + 1:])
        self._plans: dict[frozenset[str], tuple] = {}
        self._resources: dict[int, tuple[dict[str, Any], dict[str, str]]] = {}

    def extract(self, attrs: dict[str, Any], resource: dict[str, Any],
                keyset: frozenset[str] | None = None) -> dict[str, str]:
        """Dimensions of one span. With `keyset` (the span's attribute names) the lookup plan is cached:
        span attributes are checked first, then the resource (cached per resource object)."""
        if keyset is None:
            return self._extract_slow(attrs, resource)
        plan = self._plans.get(keyset)
        if plan is None:
            if len(self._plans) > 20_000:
                self._plans.clear()
            plan = self._plans[keyset] = tuple(
                (name, tuple(k for k in keys if k in keyset),
                 tuple((k, *self.nested[k]) for k in keys if k in self.nested and self.nested[k][0] in keyset))
                for name, keys in self.items
            )
        out: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        res_dims = None
        for name, present, nested in plan:
            value = None
            for key in present:
                value = attrs[key]
                if value is not None and value != "":
                    break
                value = None
            if value is None:
                for _key, container, inner in nested:
                    if container not in parsed:
                        parsed[container] = _as_dict(attrs.get(container))
                    value = parsed[container].get(inner)
                    if value is not None and value != "":
                        break
                    value = None
            if value is None and resource:
                if res_dims is None:
                    res_dims = self._resource_dims(resource)
                value = res_dims.get(name)
            if value is not None:
                out[name] = value if isinstance(value, str) else _scalar_text(value)
        return out

    def _resource_dims(self, resource: dict[str, Any]) -> dict[str, Any]:
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        if len(self._resources) > 1000:
            self._resources.clear()
        dims = self._extract_slow({}, resource)
        self._resources[id(resource)] = (resource, dims)  # keeps `resource` alive so its id is not reused
        return dims

    def _extract_slow(self, attrs: dict[str, Any], resource: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        for name, keys in self.items:
            for key in keys:
                value = attrs.get(key)
                if value is None:
                    value = resource.get(key)
                if value is None and key in self.nested:
                    container, inner = self.nested[key]
                    if container in attrs:
                        if container not in parsed:
                            parsed[container] = _as_dict(attrs[container])
                        value = parsed[container].get(inner)
                if value is not None and value != "":
                    out[name] = value if isinstance(value, str) else _scalar_text(value)
                    break
        return out


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        try:
            loaded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _scalar_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)
