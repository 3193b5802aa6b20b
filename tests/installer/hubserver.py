"""A small hub-like HTTP server on 127.0.0.1 for the download tests (http.server in a thread).

GET/HEAD /<repo>/resolve/<revision>/<path> answers like the model hub: a HEAD gets a 302 carrying
X-Repo-Commit, X-Linked-Etag (the sha256) and X-Linked-Size; a GET honours ``Range: bytes=N-`` with 206.
Knobs: ``cut_after`` (send only that many bytes of the next GET, then drop the connection), ``gated``
(401 unless the right bearer token comes), ``corrupt`` (serve different bytes than announced).
"""

from __future__ import annotations

import hashlib
import http.server
import threading

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = files  # "repo/path" -> bytes
        self.cut_after: int | None = None
        self.gated_token: str | None = None
        self.corrupt = False
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _lookup(self):
                server.requests.append((self.command, self.path, self.headers.get("Range")))
                bearer = f"Bearer {server.gated_token}"
                if server.gated_token is not None and self.headers.get("Authorization") != bearer:
                    self.send_response(401)
                    self.send_header("X-Error-Code", "GatedRepo")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                parts = self.path.lstrip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    self.send_error(404)
                    return None
                key = "/".join(parts[:2] + parts[4:])
                if key not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return server.files[key]

            def do_HEAD(self):
                data = self._lookup()
                if data is None:
                    return
                self.send_response(302)
                self.send_header("Location", self.path + "?cdn=1")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", '"%s"' % hashlib.sha256(data).hexdigest())
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                data = self._lookup()
                if data is None:
                    return
                if server.corrupt:
                    data = bytes(reversed(data))
                start = 0
                ranged = self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
