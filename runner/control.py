"""How responders reach a running drill from another terminal: ``drills ack RUN-ID``.

While a drill runs, ``ControlServer`` (an observer) listens on a Unix socket named after the run
id in the state directory (``<state>/runs/<run-id>.sock``); ``send`` connects and delivers one
JSON message, which lands in the drill's timeline through its ``HumanInbox``. With a port and a
shared token it also takes ``POST /runs/<run-id>/<ack|mitigated|note>`` over HTTP, for the
in-cluster runner. A wrong or finished run id gets a clear error, never a hang.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import DrillNotFound, UsageError
from runner.humans import HumanAction, HumanInbox
from runner.observers import DrillObserver

if TYPE_CHECKING:
    from runner.engine import DrillRun

ACTIONS = {a.value for a in (HumanAction.ACK, HumanAction.MITIGATED, HumanAction.NOTE, HumanAction.ABORT)}


def _socket_path(run_id: str) -> Path:
    """Unix socket paths are limited to ~107 bytes: sockets live in a short per-user folder, named
    by a hash of the run id; ``<runs dir>/<run-id>.json`` says where."""
    base = Path(tempfile.gettempdir()) / f"release-drills-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    return base / (hashlib.sha1(run_id.encode()).hexdigest()[:16] + ".sock")


def runs_dir() -> Path:
    base = os.environ.get("DRILLS_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state"), "release-drills")
    return Path(base) / "runs"


def _deliver(inbox: HumanInbox, run_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    action = msg.get("action")
    if action not in ACTIONS:
        return {"ok": False, "error": f"unknown action {action!r}; expected one of {', '.join(sorted(ACTIONS))}"}
    ok = inbox.put(HumanAction(action), str(msg.get("by") or "someone")[:80], str(msg.get("note") or "")[:500], run_id=run_id)
    return {"ok": ok, "run": run_id} if ok else {"ok": False, "error": f"run {run_id} is no longer running"}


class ControlServer(DrillObserver):
    def __init__(self, inbox: HumanInbox, directory: Path | None = None, *, http_port: int | None = None,
                 token: str | None = None) -> None:
        self.inbox = inbox
        self.dir = directory or runs_dir()
        self._unix: socketserver.UnixStreamServer | None = None
        self._path: Path | None = None
        self._http: ThreadingHTTPServer | None = None
        if http_port is not None:
            if not token:
                raise UsageError("an HTTP control port needs a shared token ($DRILLS_CONTROL_TOKEN)")
            self._start_http(http_port, token)

    # --- Unix socket per running drill ---------------------------------------------------------

    def drill_started(self, run: DrillRun) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = _socket_path(run.run_id)
        path.unlink(missing_ok=True)
        self._index = self.dir / f"{run.run_id}.json"
        self._index.write_text(json.dumps({"run_id": run.run_id, "socket": str(path), "pid": os.getpid()}))
        inbox, run_id = self.inbox, run.run_id

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    msg = json.loads(self.rfile.readline(65536) or b"{}")
                except ValueError:
                    reply = {"ok": False, "error": "not JSON"}
                else:
                    reply = _deliver(inbox, run_id, msg)
                self.wfile.write(json.dumps(reply).encode() + b"\n")

        self._unix = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        self._unix.daemon_threads = True
        os.chmod(path, 0o600)
        self._path = path
        threading.Thread(target=self._unix.serve_forever, name=f"control-{run_id}", daemon=True).start()

    def drill_finished(self, run: DrillRun) -> None:
        if self._unix is not None:
            self._unix.shutdown()
            self._unix.server_close()
            self._unix = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._index.unlink(missing_ok=True)
            self._path = None

    # --- HTTP for the in-cluster runner ---------------------------------------------------------

    def _start_http(self, port: int, token: str) -> None:
        inbox = self.inbox

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                auth = self.headers.get("Authorization", "")
                if not hmac.compare_digest(auth, f"Bearer {token}"):
                    return self._reply(401, {"ok": False, "error": "missing or wrong token"})
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "runs":
                    return self._reply(404, {"ok": False, "error": "use POST /runs/<run-id>/<ack|mitigated|note|abort>"})
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._reply(400, {"ok": False, "error": "not JSON"})
                reply = _deliver(inbox, parts[1], {**body, "action": parts[2]})
                self._reply(200 if reply["ok"] else 404, reply)

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        threading.Thread(target=self._http.serve_forever, name="control-http", daemon=True).start()

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()


def running(directory: Path | None = None) -> list[str]:
    d = directory or runs_dir()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            if Path(json.loads(p.read_text())["socket"]).exists():
                out.append(p.stem)
        except (OSError, ValueError, KeyError):
            continue
    return out


def send(run_id: str, action: str, by: str, note: str = "", directory: Path | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Deliver one message to a running drill.

    Raises:
        DrillNotFound: no drill with that run id is running (the message names the running ones).
    """
    d = directory or runs_dir()
    index = d / f"{run_id}.json"
    others = ", ".join(running(d)) or "none"
    if "/" in run_id or not index.exists():
        raise DrillNotFound(run_id, f"the running drills (running: {others})")
    try:
        path = Path(json.loads(index.read_text())["socket"])
    except (OSError, ValueError, KeyError) as exc:
        raise DrillNotFound(run_id, f"the running drills (running: {others})") from exc
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps({"action": action, "by": by, "note": note}).encode() + b"\n")
            reply = json.loads(s.makefile().readline() or "{}")
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise DrillNotFound(run_id, f"the running drills (it has finished; running: {others})") from exc
    if not reply.get("ok"):
        raise DrillNotFound(run_id, f"the running drills ({reply.get('error')})")
    return reply
