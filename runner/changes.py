"""Turn a watch observation into the few lines a responder would note on the timeline.

"Pod x: container waiting ImagePullBackOff", "Application week6-api-dev: health Healthy ->
Progressing", "Event Unhealthy on pod/x: Readiness probe failed ...". Pure: compares the
object's state before and after one observation.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from runner.signals import event_time
from runner.view import Obj, Observation, condition, parse_api_time, rollout_complete

Note = tuple[str, datetime | None, str | None]  # message, api time, precision


def _waiting(pod: Obj | None) -> dict[str, str]:
    out = {}
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        w = (cs.get("state") or {}).get("waiting")
        if w:
            out[cs["name"]] = w.get("reason", "")
    return out


def _ready(obj: Obj | None) -> str | None:
    c = condition(obj or {}, "Ready")
    return c.get("status") if c else None


def describe(obs: Observation, before: Obj | None) -> list[Note]:
    after = None if obs.type == "DELETED" else obs.obj
    kind, name = obs.kind, obs.obj["metadata"]["name"]
    notes: list[Note] = []
    if kind == "Pod":
        if before is None and after is not None:
            notes.append((f"pod/{name} created", parse_api_time(after["metadata"].get("creationTimestamp")), "1s"))
        if after is None:
            notes.append((f"pod/{name} deleted", None, None))
            return notes
        wb, wa = _waiting(before), _waiting(after)
        for cname, reason in wa.items():
            if wb.get(cname) != reason and reason not in ("ContainerCreating", "PodInitializing"):
                notes.append((f"pod/{name}: container {cname} waiting {reason}", None, None))
        rb, ra = _ready(before), _ready(after)
        if ra is not None and rb != ra and (rb is not None or ra == "True"):
            c = condition(after, "Ready") or {}
            notes.append((f"pod/{name}: Ready {rb or '-'} -> {ra}", parse_api_time(c.get("lastTransitionTime")), "1s"))
    elif kind == "Deployment" and after is not None:
        pb, pa = condition(before or {}, "Progressing") or {}, condition(after, "Progressing") or {}
        if pb.get("reason") != pa.get("reason") and pa:
            notes.append((f"deployment/{name}: Progressing={pa.get('status')} {pa.get('reason')}",
                          parse_api_time(pa.get("lastUpdateTime")), "1s"))
        ab, aa = condition(before or {}, "Available") or {}, condition(after, "Available") or {}
        if ab.get("status") != aa.get("status") and aa and ab:
            notes.append((f"deployment/{name}: Available={aa.get('status')}", parse_api_time(aa.get("lastTransitionTime")), "1s"))
        sb, sa = (before or {}).get("spec") or {}, after.get("spec") or {}
        if before is not None and sb.get("replicas") != sa.get("replicas"):
            notes.append((f"deployment/{name}: spec.replicas {sb.get('replicas')} -> {sa.get('replicas')}", None, None))
        ib = [c.get("image") for c in (((sb.get("template") or {}).get("spec") or {}).get("containers") or [])]
        ia = [c.get("image") for c in (((sa.get("template") or {}).get("spec") or {}).get("containers") or [])]
        if before is not None and ib != ia:
            notes.append((f"deployment/{name}: image {', '.join(map(str, ib))} -> {', '.join(map(str, ia))}", None, None))
        if before is not None and rollout_complete(before)[0] != rollout_complete(after)[0]:
            done, why = rollout_complete(after)
            notes.append((f"deployment/{name}: rollout {'complete' if done else 'in progress'} ({why})", None, None))
    elif kind == "ReplicaSet" and after is not None:
        if before is None:
            notes.append((f"replicaset/{name} created (revision "
                          f"{(after['metadata'].get('annotations') or {}).get('deployment.kubernetes.io/revision', '?')})", None, None))
        elif (before.get("spec") or {}).get("replicas") != (after.get("spec") or {}).get("replicas"):
            notes.append((f"replicaset/{name} scaled {before['spec'].get('replicas')} -> {after['spec'].get('replicas')}", None, None))
    elif kind == "Application" and after is not None:
        st_b, st_a = (before or {}).get("status") or {}, after.get("status") or {}
        sync_b, sync_a = st_b.get("sync") or {}, st_a.get("sync") or {}
        if (sync_b.get("status"), sync_b.get("revision")) != (sync_a.get("status"), sync_a.get("revision")) and sync_a:
            notes.append((f"application/{name}: sync {sync_b.get('status', '-')} -> {sync_a.get('status')} "
                          f"at {str(sync_a.get('revision', ''))[:12]}", parse_api_time(st_a.get("reconciledAt")), "1s"))
        hb, ha = st_b.get("health") or {}, st_a.get("health") or {}
        if hb.get("status") != ha.get("status") and ha:
            notes.append((f"application/{name}: health {hb.get('status', '-')} -> {ha.get('status')}"
                          + (f" ({ha['message']})" if ha.get("message") else ""),
                          parse_api_time(ha.get("lastTransitionTime")), "1s"))
        ob, oa = st_b.get("operationState") or {}, st_a.get("operationState") or {}
        if (ob.get("phase"), ob.get("startedAt")) != (oa.get("phase"), oa.get("startedAt")) and oa:
            op = oa.get("operation") or {}
            who = "automated" if (op.get("initiatedBy") or {}).get("automated") else (op.get("initiatedBy") or {}).get("username", "?")
            partial = " (self-heal, partial)" if (op.get("sync") or {}).get("resources") else ""
            notes.append((f"application/{name}: operation {oa.get('phase')} by {who}{partial}",
                          parse_api_time(oa.get("finishedAt") or oa.get("startedAt")), "1s"))
        pb = ((before or {}).get("spec") or {}).get("syncPolicy") or {}
        pa = (after.get("spec") or {}).get("syncPolicy") or {}
        if before is not None and pb.get("automated") != pa.get("automated"):
            notes.append((f"application/{name}: automated sync {'on' if pa.get('automated') else 'off'}", None, None))
    elif kind == "Event" and after is not None:
        if before is None and (after.get("type") == "Warning" or after.get("reason") in ("BackOff", "Killing")):
            inv = after.get("involvedObject") or after.get("regarding") or {}
            t, precision = event_time(after)
            notes.append((f"event {after.get('type')} {after.get('reason')} on {str(inv.get('kind', '')).lower()}/"
                          f"{inv.get('name', '')}: {after.get('message') or after.get('note') or ''}", t, precision))
    elif after is None and kind != "Event":  # Events expire (--event-ttl): not worth a line
        notes.append((f"{kind.lower()}/{name} deleted", None, None))
    elif before is None and kind not in ("EndpointSlice",):
        notes.append((f"{kind.lower()}/{name} created", parse_api_time(after["metadata"].get("creationTimestamp")), "1s"))
    elif kind == "EndpointSlice":
        def ready(o: Any) -> int:
            return sum(1 for e in (o or {}).get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))
        if before is not None and ready(before) != ready(after):
            notes.append((f"endpointslice/{name}: ready endpoints {ready(before)} -> {ready(after)}", None, None))
    return notes
