"""The ChangeFeed contract: what the control plane tells the parts that cache its records.

The Store is the single source of truth for every limit and configuration. A control-plane
handler commits to it first, then publishes one small change saying what changed; the
scheduler, provisioner, dispatcher and caches subscribe and bring their own state in line
(reading the store again when they need more than the change carries). At start-up a
subscriber loads its state from the store, not from the feed: the feed carries news, never
history.

Changes are frozen dataclasses of plain values that serialize to one JSON object
(`change_to_json` / `change_from_json`), so a feed between processes (PostgreSQL
LISTEN/NOTIFY, a NATS subject) can carry them as they are.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Change:
    """Something the control plane committed. `kind` names the class on the wire."""

    kind: ClassVar[str] = "Change"
    function_name: str


@dataclass(frozen=True)
class FunctionChanged(Change):
    """A function was created, or its configuration or code changed (only $LATEST changes)."""

    kind: ClassVar[str] = "FunctionChanged"
    version: str = "$LATEST"


@dataclass(frozen=True)
class FunctionDeleted(Change):
    """A function (version None), or one published version of it, was deleted."""

    kind: ClassVar[str] = "FunctionDeleted"
    version: str | None = None


@dataclass(frozen=True)
class ConcurrencyChanged(Change):
    """A function's reserved concurrency was put (an int, 0 stops it) or deleted (None)."""

    kind: ClassVar[str] = "ConcurrencyChanged"
    reserved: int | None = None


@dataclass(frozen=True)
class ProvisionedConcurrencyChanged(Change):
    """A version's or alias's provisioned concurrency was put (`requested`) or deleted (None)."""

    kind: ClassVar[str] = "ProvisionedConcurrencyChanged"
    qualifier: str = ""
    requested: int | None = None


@dataclass(frozen=True)
class AliasChanged(Change):
    """An alias was created, pointed elsewhere (version or weights) or deleted: read it again."""

    kind: ClassVar[str] = "AliasChanged"
    alias: str = ""


#: every change, by its `kind`: what `change_from_json` can read
CHANGES: dict[str, type[Change]] = {cls.kind: cls for cls in (
    FunctionChanged, FunctionDeleted, ConcurrencyChanged, ProvisionedConcurrencyChanged, AliasChanged)}


def change_to_json(change: Change) -> str:
    """`change` as one JSON object: {"kind": ..., its fields...}."""
    return json.dumps({"kind": change.kind, **dataclasses.asdict(change)}, separators=(",", ":"))


def change_from_json(text: str) -> Change:
    """The change `change_to_json` wrote; ValueError for anything else."""
    document: dict[str, Any] = json.loads(text)
    if not isinstance(document, dict) or document.get("kind") not in CHANGES:
        raise ValueError(f"not a change: {text[:200]!r}")
    kind = CHANGES[document.pop("kind")]
    try:
        return kind(**document)
    except TypeError as exc:
        raise ValueError(f"not a {kind.kind}: {text[:200]!r}") from exc


#: called with each change published after it subscribed
Subscriber = Callable[[Change], Awaitable[None]]


class ChangeFeed(ABC):
    """Changes from the control plane to every subscriber.

    Guarantees every implementation keeps:
    - Publish after commit: a change is published only once what it describes is committed to
      the Store, so a subscriber that reads the store on receipt sees at least that state.
    - Order: the changes one publisher publishes reach each subscriber in the order published,
      one at a time (a subscriber is never called again before its previous call returned).
      Changes published concurrently (two requests at once) arrive in some order, the same for
      every subscriber of one process.
    - Delivery: each subscriber of a live feed gets each change once. A feed between processes
      may lose changes while a subscriber is disconnected; it then tells nothing, so a subscriber
      that must never be stale reloads from the store when it (re)starts.
    - Isolation: a subscriber that raises is logged and skipped; the publisher and the other
      subscribers go on. Subscribers must not assume they run in the publisher's call stack or
      task (between processes they do not), and must not publish from inside a delivery.
    """

    @abstractmethod
    async def publish(self, change: Change) -> None:
        """Hand `change` to every subscriber. Returns once the feed has taken it; in one process
        that is after every subscriber has run. Never raises for a subscriber's failure."""

    @abstractmethod
    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with each change published from now on; returns the function that
        stops it (idempotent)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop delivering; later publishes are dropped. Safe to call twice."""
