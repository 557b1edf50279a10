"""Real `pairbot serve` processes on loopback, for fault tests: start one from a config file, wait
until it answers, kill it (-9) or stop it (SIGTERM), read its log; and a TCP proxy in front of
PostgreSQL that can refuse connections for a while, as a database that goes away does.

Every wait here is for a condition, with a bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is JSON-compatible for these values


def write_config(path: Path, sections: dict[str, dict]) -> Path:
    """A TOML config file from {"section": {"key": value}}."""
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class ServeProcess:
    """One `pairbot serve --config <file>` child process; its output goes to a log file."""

    def __init__(self, config: Path, port: int, log: Path, env: dict[str, str] | None = None):
        self.config = config
        self.port = port
        self.log = log
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServeProcess":
        self._log_file = open(self.log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli import main; main()", "serve", "--config", str(self.config)],
            cwd=ROOT, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> tuple[int, dict] | None:
        """(status, body) of GET /healthz, or None when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (OSError, ValueError):
            return None

    async def until(self, check, seconds: float, what: str) -> None:
        """Wait (off the event loop's way) until check() is true, or fail naming `what`."""
        deadline = time.monotonic() + seconds
        while True:
            if await asyncio.to_thread(check):
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"pairbot serve exited ({self.process.returncode}) while waiting for "
                                     f"{what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def answering(self, seconds: float = 60.0) -> None:
        await self.until(lambda: self.health() is not None, seconds, "/healthz to answer")

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close_log()

    def terminate(self, seconds: float = 60.0) -> int:
        """SIGTERM, as a deploy does; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
                raise AssertionError(f"pairbot serve did not stop within {seconds:.0f} s of SIGTERM:\n"
                                     f"{self.log_tail()}")
        self._close_log()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _close_log(self) -> None:
        with contextlib.suppress(AttributeError):
            self._log_file.close()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill()


class TcpProxy:
    """A loopback TCP proxy (e.g. in front of PostgreSQL). `refuse()` drops every connection and
    stops listening, so new connections are refused; `accept()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int, port: int = 0):
        self.target = (target_host, target_port)
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def accept(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        await self.refuse()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, target_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                sink.transport.abort()

        try:
            await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))
        except asyncio.CancelledError:
            pass  # the proxy is closing; both ends are already aborted
        finally:
            self._writers -= {writer, target_writer}
