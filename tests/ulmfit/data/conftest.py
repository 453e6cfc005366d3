"""Fixtures for the data tests: a local HTTP server (127.0.0.1) serving files the test provides."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes), honouring ``Range: bytes=N-``; records each request's headers."""

    def do_GET(self):  # noqa: N802 - http.server API
        name = self.path.lstrip("/")
        self.server.requests.append((name, self.headers.get("Range")))
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if rng and self.server.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.honour_range = {}, [], True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
