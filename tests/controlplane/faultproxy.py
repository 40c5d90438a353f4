"""A fault-injecting HTTPS proxy in front of the test kube-apiserver (loopback only).

The runner is pointed at the proxy instead of the apiserver; the proxy forwards every request
and, by rule, answers some of them itself with 429 (Retry-After), 500, or hangs past the
client's timeout, or cuts a watch stream. Used to prove the runner retries what is transient,
a bounded number of times, and never applies an injection twice. A test tool, not a product
feature.
"""
from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


@dataclass
class Rule:
    """Answer the ``count`` first requests matching ``method`` and ``path`` (regex) with ``action``."""

    method: str
    path: str
    action: str  # "429" | "500" | "hang" | "cut"
    count: int = 1
    seen: int = 0


@dataclass
class Stats:
    forwarded: int = 0
    injected: list[tuple[str, str, str]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream: str, state_dir: Path, hang_seconds: float = 15.0) -> None:
        self.upstream = urlparse(upstream)
        self.rules: list[Rule] = []
        self.stats = Stats()
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        cert, key = state_dir / "proxy.crt", state_dir / "proxy.key"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                           check=True, capture_output=True)
        self.ca_file = cert
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _rule(self) -> Rule | None:
                with proxy._lock:
                    for r in proxy.rules:
                        if r.seen < r.count and r.method in (self.command, "*") and re.search(r.path, self.path):
                            r.seen += 1
                            proxy.stats.injected.append((self.command, self.path, r.action))
                            return r
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                rule = self._rule()
                if rule is not None and rule.action in ("429", "500"):
                    payload = (b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected by the fault proxy",'
                               b'"code":' + rule.action.encode() + b"}")
                    self.send_response(int(rule.action))
                    if rule.action == "429":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if rule is not None and rule.action == "hang":
                    proxy._stop.wait(proxy.hang_seconds)  # longer than the client's read timeout
                    self.close_connection = True
                    return
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(proxy.upstream.hostname, proxy.upstream.port, context=ctx, timeout=400)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                with proxy._lock:
                    proxy.stats.forwarded += 1
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                try:
                    while True:
                        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                        if not chunk:
                            break
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        sent += 1
                        if rule is not None and rule.action == "cut" and sent >= 1:
                            self.close_connection = True
                            return  # cut mid-stream, no terminating chunk
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, socket.timeout):
                    self.close_connection = True
                finally:
                    conn.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sslctx.load_cert_chain(str(cert), str(key))
        self.server.socket = sslctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset(self, rules: list[Rule]) -> None:
        """New rules and fresh statistics (one test's worth)."""
        with self._lock:
            self.rules = list(rules)
            self.stats = Stats()

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path, token: str, context: str = "via-proxy") -> Path:
        import yaml

        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "proxy", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": "proxy", "user": "admin"}}],
        }))
        return path
