"""Webhook notifications: a drill that did not pass is POSTed as JSON; a passing one is not."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from runner.engine import Engine
from runner.sinks import ResultSinks

from drillgen import drill
from test_engine_sim import new_sim


def test_failed_drill_is_posted_to_the_webhook(tmp_path: Path) -> None:
    got: list[dict] = []
    done = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sinks = ResultSinks(history_path=tmp_path / "h.sqlite", report_dir=None,
                        webhook=f"http://127.0.0.1:{server.server_address[1]}/hook?token=secret")
    try:
        eng = Engine(new_sim())
        ok = eng.run(drill("replica-drift", "api", "self-heal", "dev", name="fine"))
        slow = eng.run(drill("image-tag", "git", "git-revert", "dev", name="slow", expect={"detect-within": "1s"}))
        sinks.record(ok, "sim", None, "run", None)
        assert got == []  # a pass is not news
        sinks.record(slow, "sim", None, "run", "reports/x")
        assert done.wait(10)
    finally:
        sinks.stop()
        server.shutdown()
    [msg] = got
    assert msg["drill"] == "slow" and msg["outcome"] == "failed" and msg["report"] == "reports/x"
    assert "missed: detect-within" in msg["text"]
