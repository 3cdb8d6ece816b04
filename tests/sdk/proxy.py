"""A reverse proxy on loopback between the SDK and the real server, which misbehaves on demand:
answers 429 or 503 itself, loses the server's answer after the server stored the request, or is
down (its port refuses connections). Each fault applies to the next `count` requests."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import httpx

from analytics_project.devstack import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}


@dataclass
class Faults:
    status: int = 0  # answer this status (429, 503) instead of forwarding
    status_count: int = 0
    retry_after: str | None = "1"
    lose_answers: int = 0  # forward, then close the connection without answering
    paths: list[str] = field(default_factory=list)  # the requests seen, in order


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults = Faults()
        self.port = free_port(0)
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = self._call(self._make_client())
        self.up()

    async def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=30)

    def _call(self, coroutine):  # noqa: ANN001, ANN202
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def up(self) -> None:
        async def start() -> asyncio.AbstractServer:
            return await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

        if self._server is None:
            self._server = self._call(start())

    def down(self) -> None:
        """Stop listening and drop open connections: clients get connection refused or reset."""
        async def stop() -> None:
            self._server.close()
            for writer in list(self._writers):  # keep-alive connections too
                writer.close()
            await self._server.wait_closed()

        if self._server is not None:
            self._call(stop())
            self._server = None

    def close(self) -> None:
        self.down()
        self._call(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = [tuple(line.split(":", 1)) for line in header_lines if ":" in line]
                length = next((int(v) for k, v in headers if k.strip().lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                self.faults.paths.append(target)
                if self.faults.status_count > 0:
                    self.faults.status_count -= 1
                    payload = (b'{"error":{"code":"rate_limited","message":"Slow down.","details":null}}'
                               if self.faults.status == 429 else
                               b'{"error":{"code":"unavailable","message":"Try later.","details":null}}')
                    extra = f"Retry-After: {self.faults.retry_after}\r\n" if self.faults.retry_after else ""
                    writer.write(f"HTTP/1.1 {self.faults.status} Fault\r\nContent-Type: application/json\r\n"
                                 f"{extra}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                    await writer.drain()
                    continue
                response = await self._client.request(
                    method, self.upstream + target, content=body,
                    headers=[(k.strip(), v.strip()) for k, v in headers if k.strip().lower() not in HOP_BY_HOP])
                if self.faults.lose_answers > 0:
                    self.faults.lose_answers -= 1
                    return  # the server has done the work; its answer never reaches the client
                out = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
                out += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP
                        and k.lower() != "content-encoding"]
                content = response.content
                out.append(f"Content-Length: {len(content)}")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + content)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
