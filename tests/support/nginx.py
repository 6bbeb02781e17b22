"""A real nginx gRPC balancer for tests, built from ``deploy/nginx/nginx.conf``.

``render_config`` keeps everything of the deployed file that decides how calls
are balanced and passed on (the ``location``, its grpc_* settings, the body and
keep-alive limits, the upstream's parameters and ``keepalive``) and changes only
what ties it to a container: the upstream's ``server`` lines (to 127.0.0.1
ports), the ``listen`` address, and the pid, log and temporary paths (into a
directory of the test's own). So a test of the balancer is a test of the file
that is deployed, not of a copy that could drift from it.

Needs Debian's ``nginx`` (1.22 on bookworm); ``nginx_binary`` is None without it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "nginx.conf"
UPSTREAM = "nigran_replicas"
START_BOUND = 10.0  # seconds for nginx to accept connections
STOP_BOUND = 5.0

# Paths nginx would otherwise take from how it was compiled (/var/lib/nginx/...),
# which a test may not be able to write, and which another nginx may be using.
_TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")


def nginx_binary() -> str | None:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _replace_one(pattern: str, replacement: str | Callable[[re.Match[str]], str], text: str, what: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count == 0:
        raise ValueError(f"{NGINX_CONF.name}: no {what} to rewrite; keep it on a line of its own")
    return new


def render_config(upstream_ports: list[int], listen_port: int, workdir: Path, source: str | None = None) -> str:
    """The deployed config, pointed at 127.0.0.1 ports and with every file it writes under ``workdir``."""
    if not upstream_ports:
        raise ValueError("a balancer needs at least one upstream port")
    text = NGINX_CONF.read_text(encoding="utf-8") if source is None else source
    work = str(workdir)

    block = re.search(rf"^[ \t]*upstream\s+{UPSTREAM}\s*\{{(.*?)^[ \t]*\}}", text, flags=re.MULTILINE | re.DOTALL)
    if block is None:
        raise ValueError(f"{NGINX_CONF.name}: no `upstream {UPSTREAM} {{ ... }}` block")
    server_line = r"^([ \t]*)server\s+[^\s;]+([^;]*);[^\n]*\n"
    body = block.group(1)
    first = re.search(server_line, body, flags=re.MULTILINE)
    if first is None:
        raise ValueError(f"{NGINX_CONF.name}: upstream {UPSTREAM} has no server lines")
    # The deployed parameters (max_fails, fail_timeout...) stay: they are part of what is tested.
    indent, params = first.group(1), first.group(2)
    ours = "".join(f"{indent}server 127.0.0.1:{port}{params};\n" for port in upstream_ports)
    body = body[: first.start()] + ours + re.sub(server_line, "", body[first.start() :], flags=re.MULTILINE)
    text = text[: block.start(1)] + body + text[block.end(1) :]

    text = _replace_one(r"^(\s*listen\s+)\S+", rf"\g<1>127.0.0.1:{listen_port}", text, "listen line")
    text = re.sub(r"^[ \t]*(user|pid|worker_processes)\s[^;]*;[^\n]*\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*error_log\s+)\S+", rf"\g<1>{work}/error.log", text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*access_log\s+)\S+", rf"\g<1>{work}/access.log", text, flags=re.MULTILINE)
    text = re.sub(rf"^[ \t]*({'|'.join(_TEMP_PATHS)})\s[^;]*;[^\n]*\n", "", text, flags=re.MULTILINE)
    temp = "".join(f"    {name} {work}/{name.removesuffix('_temp_path')};\n" for name in _TEMP_PATHS)
    text = _replace_one(r"^http\s*\{[^\n]*\n", lambda m: m.group(0) + temp, text, "http block")

    head = [f"pid {work}/nginx.pid;", "worker_processes 1;"]
    if os.geteuid() == 0:
        # Workers would otherwise run as nobody, who cannot enter a private temporary directory.
        head.insert(0, "user root;")
    return "\n".join(head) + "\n" + text


def nginx_command(binary: str, conf: Path, workdir: Path, *extra: str) -> list[str]:
    # -e: the error log nginx writes before it has read the config (1.19.5+).
    return [binary, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf), *extra]


class GrpcBalancer:
    """nginx on 127.0.0.1:<free port>, round-robin over 127.0.0.1:<port> for each of ``upstream_ports``."""

    def __init__(self, upstream_ports: list[int]) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        self._dir = Path(tempfile.mkdtemp(prefix="nigran-nginx-"))
        self.port = free_port()
        self.conf = self._dir / "nginx.conf"
        self.conf.write_text(render_config(upstream_ports, self.port, self._dir), encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            nginx_command(binary, self.conf, self._dir, "-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self._process.returncode}: {self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not accept connections on 127.0.0.1:{self.port} within {START_BOUND:g} s: {self.error_log()}")

    def error_log(self) -> str:
        try:
            return (self._dir / "error.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def access_log(self) -> str:
        try:
            return (self._dir / "access.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # nginx's fast shutdown
            try:
                process.wait(STOP_BOUND)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_BOUND)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "GrpcBalancer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
