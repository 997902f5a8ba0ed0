"""Real local servers for the artifact stores beyond S3, each on a free port of 127.0.0.1.

- GCS: ``gcp-storage-emulator`` (PyPI), the JSON API in memory;
- Azure Blob: Azurite (npm), installed on first use under ``.cache/azurite`` of the repository
  (``AZURITE`` names an existing ``azurite-blob`` instead); telemetry off;
- Git: ``git http-backend`` behind a small HTTP server that wants basic auth (the smart HTTP
  protocol, as a Git host speaks it), and plain ``file://`` repositories;
- HTTP/Artifactory: a server that stores ``PUT`` bodies (streamed to disk) and serves them
  back with ``GET``, with basic auth, redirects and failures on request.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_ACCOUNT = "devstoreaccount1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited: {out[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout}s")


@contextmanager
def _process(args: list[str], port: int, what: str) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(port, proc, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@contextmanager
def gcs_emulator() -> Iterator[str]:
    """``gcp-storage-emulator`` in memory; yields ``host:port`` (for ``STORAGE_EMULATOR_HOST``)."""
    port = free_port()
    args = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port)]
    with _process([*args, "--in-memory"], port, "the GCS emulator"):
        yield f"127.0.0.1:{port}"


def azurite_command() -> str | None:
    """``azurite-blob``: ``$AZURITE``, or installed with npm under .cache/azurite (None: no npm)."""
    if os.environ.get("AZURITE"):
        return os.environ["AZURITE"]
    cache = REPO / ".cache" / "azurite"
    binary = cache / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers install once
        if not binary.exists():
            done = subprocess.run(
                [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error", "azurite@3"],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm install azurite failed: {done.stderr[-2000:]}")
    return str(binary)


@contextmanager
def azurite(command: str) -> Iterator[str]:
    """Azurite's blob service in memory; yields its blob endpoint (``http://127.0.0.1:P/ACCOUNT``)."""
    port = free_port()
    args = [command, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence"]
    args += ["--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"]
    with _process(args, port, "Azurite"):
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"


# -- HTTP PUT/GET --------------------------------------------------------------------------------
@dataclass
class PutServer:
    """Bodies stored by path; what each request looked like."""

    root: Path
    user: str = "uploader"
    password: str = "s3cret-pass"
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    redirect: set[str] = field(default_factory=set)  # paths answered with 307 to PATH.redirected

    def file(self, path: str) -> Path:
        return self.root / path.strip("/").replace("/", "__")


def _put_handler(server: PutServer) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            server.requests.append((self.command, self.path, dict(self.headers)))
            if self.path.startswith("/public/"):
                return True
            if self.headers.get("Authorization") != expected:
                self._drain()
                self._reply(401, b"unauthorized", {"WWW-Authenticate": 'Basic realm="test"'})
                return False
            return True

        def _drain(self) -> None:
            for _chunk in self._body():
                pass

        def _body(self) -> Iterator[bytes]:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

        def do_PUT(self) -> None:
            if not self._authorized():
                return
            path = self.path.split("?", 1)[0]
            if path in server.redirect:
                self._drain()
                self._reply(307, headers={"Location": path + ".redirected"})
                return
            with server.file(path).open("wb") as out:
                for chunk in self._body():
                    out.write(chunk)
            self._reply(201, b"created")

        def do_GET(self) -> None:
            if not self._authorized():
                return
            target = server.file(self.path.split("?", 1)[0])
            if not target.exists():
                self._reply(404, b"not found")
                return
            self._reply(200, target.read_bytes(), {"Content-Type": "application/octet-stream"})

    return Handler


@contextmanager
def put_server(root: Path) -> Iterator[PutServer]:
    root.mkdir(parents=True, exist_ok=True)
    state = PutServer(root=root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _put_handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- git -----------------------------------------------------------------------------------------
def make_repository(folder: Path) -> dict[str, str]:
    """A bare repository with two commits on ``main``, a tag ``v1`` on the first and a branch
    ``feature``; returns the commit ids."""
    work = folder / "work"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(folder),
    }

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    work.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    (work / "VERSION").write_text("1.0\n")
    git("add", "VERSION")
    git("commit", "-q", "-m", "one")
    first = git("rev-parse", "HEAD").strip()
    git("tag", "v1")
    (work / "VERSION").write_text("2.0\n")
    git("commit", "-q", "-am", "two")
    second = git("rev-parse", "HEAD").strip()
    git("checkout", "-q", "-b", "feature")
    (work / "FEATURE").write_text("yes\n")
    git("add", "FEATURE")
    git("commit", "-q", "-m", "feature")
    git("checkout", "-q", "main")
    git("clone", "-q", "--bare", str(work), str(folder / "repo.git"), cwd=folder)
    git("update-server-info", cwd=folder / "repo.git")
    return {"first": first, "second": second}


def _git_handler(root: Path, user: str, password: str) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {
                "PATH": os.environ.get("PATH", ""),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": user,
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode(errors="replace").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

    return Handler


@contextmanager
def git_http_server(root: Path, user: str = "gituser", password: str = "gitpass") -> Iterator[str]:
    """``git http-backend`` serving the repositories under ``root``; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _git_handler(root, user, password))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
