"""The week6-api sample app: a tiny HTTP service with a health endpoint.

It is what the sample chart deploys (image built from kind/app/Dockerfile) and what the
test control plane's kubelet stand-in runs as a real local process, so that a readiness probe
against a path the app does not serve really gets a 404.

Serves:
  GET /health  -> 200 {"status": "ok"}
  GET /        -> 200 {"app": "week6-api", "version": APP_VERSION}
  anything else -> 404

Port from $PORT (default 5000, the chart's service.targetPort). Standard library only.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "week6-api/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        elif self.path == "/":
            self._reply(200, {"app": "week6-api", "version": os.environ.get("APP_VERSION", "dev")})
        else:
            self._reply(404, {"error": "not found", "path": self.path})

    def _reply(self, code: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if os.environ.get("ACCESS_LOG"):
            super().log_message(format, *args)


def main() -> int:
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "5000"))
    httpd = ThreadingHTTPServer((host, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"week6-api listening on {host}:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
