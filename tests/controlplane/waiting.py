"""Wait for Kubernetes state with watches and timeouts (no bare sleeps), on raw dicts.

    obj = watch_until(core.list_namespaced_pod, lambda p: ..., 60, "ns", label_selector="app=x",
                      desc="pod ready")

The list function's watch is used (``kubernetes.watch.Watch`` with ``deserialize=False``);
a watch started without a resourceVersion first replays every existing object as ADDED,
so the current state is checked too. A 410 Gone or a stream that ends is simply restarted
until the deadline. On timeout, TimeoutError carries the last object seen.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from kubernetes import watch
from kubernetes.client.exceptions import ApiException


def watch_until(list_func: Callable[..., Any], predicate: Callable[[dict], Any], timeout: float,
                *args: Any, desc: str = "condition", **kwargs: Any) -> dict:
    """Return the first object (a dict) for which predicate(obj) is truthy, else TimeoutError."""
    deadline = time.monotonic() + timeout
    last: dict | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{desc}: not reached within {timeout:.0f}s; last object seen: "
                               f"{json.dumps(last, default=str)[:4000] if last else None}")
        w = watch.Watch()
        try:
            for ev in w.stream(list_func, *args, deserialize=False, allow_watch_bookmarks=True,
                               timeout_seconds=max(1, int(remaining)),
                               _request_timeout=(5, remaining + 15), **kwargs):
                if ev.get("type") in ("BOOKMARK", "DELETED"):
                    continue
                obj = ev["object"]
                last = obj
                if predicate(obj):
                    return obj
        except ApiException as e:
            if e.status != 410:
                raise
        except KeyError as e:
            # kubernetes 37: with deserialize=False an in-stream 410 ERROR event raises
            # KeyError('raw_object') instead of ApiException(410); restart the watch as for a 410
            if e.args != ("raw_object",):
                raise
        finally:
            w.stop()


def condition(obj: dict, ctype: str) -> dict:
    """The status condition of that type ({} if absent)."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def waiting_reason(pod: dict) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        w = (cs.get("state") or {}).get("waiting")
        if w:
            return w.get("reason")
    return None


def wait_until_empty(list_func: Callable[..., Any], timeout: float, *args: Any, desc: str = "deletion",
                     **kwargs: Any) -> None:
    """List; while anything is left, watch (from the list's resourceVersion) for a DELETED event."""
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(list_func(*args, _preload_content=False, **kwargs).data)
        if not data["items"]:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            names = [i["metadata"]["name"] for i in data["items"]]
            raise TimeoutError(f"{desc}: still present after {timeout:.0f}s: {names}")
        w = watch.Watch()
        try:
            for ev in w.stream(list_func, *args, deserialize=False,
                               resource_version=data["metadata"]["resourceVersion"],
                               timeout_seconds=max(1, int(remaining)), _request_timeout=(5, remaining + 15),
                               **kwargs):
                if ev.get("type") == "DELETED":
                    break
        except ApiException as e:
            if e.status != 410:
                raise
        finally:
            w.stop()
