"""A session's choice of downstreams, from its start config, under the deployment's policy.

The offer's ``config.downstreams`` is a list; each entry names a configured downstream
(``"crm"`` or ``{"name": "crm"}``) or gives a URL of the client's own with its protocol
(``{"url": "wss://…", "protocol": "vosk", "options": {…}, "name": "mine"}``), which the
allow-list must admit. Without the key a session gets the deployment's ``always`` and
``default`` downstreams; with it, the ``always`` ones and exactly those it lists (``[]``:
none but ``always``). Every problem is a :class:`TargetError` naming the field, which start
config parsing turns into ``invalid_config``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .allow import AllowList
from .targets import Target, TargetError, check_name, check_options, template_url

MAX_CHOICES = 4
CLIENT_KEYS = frozenset({"url", "protocol", "options", "name"})


@dataclass(frozen=True)
class DownstreamPolicy:
    """The deployment's downstreams and the URLs its clients may name."""

    configured: tuple[Target, ...] = ()
    allow: AllowList = field(default_factory=AllowList)

    def named(self, name: str) -> Target | None:
        return next((t for t in self.configured if t.label == name), None)

    def resolve(self, raw: object, path: str = "config.downstreams") -> tuple[Target, ...]:
        """The targets of one session (``raw`` is the start config's value, None if absent)."""
        always = [t for t in self.configured if t.select == "always"]
        if raw is None:
            return tuple(always + [t for t in self.configured if t.select == "default"])
        if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
            raise TargetError(path, f"must be a list, got {type(raw).__name__}")
        if len(raw) > MAX_CHOICES:
            raise TargetError(path, f"at most {MAX_CHOICES} downstreams per session")
        chosen: list[Target] = list(always)
        for index, entry in enumerate(raw):
            target = self._entry(entry, f"{path}[{index}]")
            if all(t.key != target.key for t in chosen):
                chosen.append(target)
        return tuple(chosen)

    def _entry(self, entry: object, path: str) -> Target:
        if isinstance(entry, str):
            return self._configured(entry, path)
        if not isinstance(entry, Mapping):
            raise TargetError(path, "must be a downstream name or an object")
        unknown = set(entry) - CLIENT_KEYS
        if unknown:
            raise TargetError(path, f"unknown keys {sorted(unknown)} "
                              f"(known: {', '.join(sorted(CLIENT_KEYS))})")
        if "url" not in entry:
            if set(entry) != {"name"}:
                raise TargetError(path, "give either a configured downstream's name, or a "
                                  "url with its protocol")
            return self._configured(entry["name"], f"{path}.name")
        url, protocol = entry.get("url"), entry.get("protocol")
        if not isinstance(url, str):
            raise TargetError(f"{path}.url", "must be a string")
        if not isinstance(protocol, str):
            raise TargetError(f"{path}.protocol", "must be a string naming the protocol")
        label = check_name(entry.get("name", protocol), f"{path}.name")
        options = entry.get("options") or {}
        if not isinstance(options, Mapping):
            raise TargetError(f"{path}.options", "must be an object")
        checked = check_options(protocol, options, path)
        return Target(label, protocol, template_url(url, f"{path}.url", self.allow), checked,
                      source="client")

    def _configured(self, name: object, path: str) -> Target:
        target = self.named(check_name(name, path))
        if target is None:
            known = ", ".join(t.label for t in self.configured) or "none"
            raise TargetError(path, f"no configured downstream is called {name!r} "
                              f"(configured: {known})")
        return target
