"""An HTTP proxy in front of a real MLflow server that the test can make stop answering: every
request but /health then hangs (a tracking server that is up, and stuck)."""

from __future__ import annotations

import http.server
import threading

import requests

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}


class TrackingProxy:
    def __init__(self, target: str | None, port: int):
        """`target`: the MLflow server to forward to (None: the API never answers)."""
        self.target, self.stuck = target, threading.Event()
        self.released = threading.Event()
        if target is None:
            self.stuck.set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                if self.path.startswith("/health"):
                    self._reply(200, b"OK", {})
                    return
                if proxy.stuck.is_set():
                    proxy.released.wait(600)  # no answer while stuck
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                r = requests.request(self.command, proxy.target + self.path, data=body,
                                     headers=headers, timeout=60)
                self._reply(r.status_code, r.content,
                            {k: v for k, v in r.headers.items() if k.lower() not in HOP_HEADERS})

            def _reply(self, status: int, body: bytes, headers: dict) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hang(self) -> None:
        self.released.clear()
        self.stuck.set()

    def answer(self) -> None:
        self.stuck.clear()
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
