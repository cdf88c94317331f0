"""The moto server, as a child process on loopback: the local cloud's AWS API."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from localcloud import guardian
from localcloud.tls import client_context, ensure_certificate

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until_listening(
    url: str,
    *,
    deadline_s: float,
    process: subprocess.Popen[bytes] | None = None,
    context: ssl.SSLContext | None = None,
) -> None:
    """Poll `url` until it answers (any HTTP status) or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last_error = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {deadline_s:.0f} s: {last_error}")


@dataclass
class MotoServer:
    process: subprocess.Popen[bytes]
    port: int
    cafile: Path
    host: str = LOOPBACK

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}"

    def configure(self, config: dict[str, object]) -> None:
        """moto's own settings (e.g. {"stepfunctions": {"execute_state_machine": True}})."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10, context=client_context(self.cafile)):
            pass

    def reset(self) -> None:
        """Forget every resource (moto's own reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10, context=client_context(self.cafile)):
            pass

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)


def start_moto_server(
    *,
    tls_dir: Path,
    port: int | None = None,
    log_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> MotoServer:
    """Start `moto_server` on 127.0.0.1 over HTTPS and return once it answers."""
    cert, key = ensure_certificate(tls_dir)
    chosen = port or free_port()
    log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    env = {**os.environ, "MOTO_DOCKER_NETWORK_MODE": "none", **(extra_env or {})}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcloud.moto_main",  # moto.server, TLS handshakes off its accept loop
            "-H",
            LOOPBACK,
            "-p",
            str(chosen),
            "-c",
            str(cert),
            "-k",
            str(key),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the local cloud, which saves state through moto first
    )
    if log_path is not None and not isinstance(log, int):
        log.close()
    guardian.watch(process.pid)
    server = MotoServer(process=process, port=chosen, cafile=cert)
    try:
        wait_until_listening(
            f"{server.endpoint}/moto-api/", deadline_s=30, process=process, context=client_context(cert)
        )
    except BaseException:
        server.stop()
        raise
    return server
