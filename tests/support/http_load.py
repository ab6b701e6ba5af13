"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams, for live overload tests.

httpx spends more CPU per request than the service under test does, so on a 2-core machine it
would measure itself. This keeps one keep-alive connection per client, sends a GET, reads the
status line, headers and a Content-Length body, records (status, seconds), and sends the next.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Every response of a run: status and seconds from send to the last byte."""

    responses: list[tuple[int, float]] = field(default_factory=list)
    # seconds from the start of the run at which each response (same order) was complete
    finished: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started: float = 0.0

    def after(self, seconds: float) -> LoadResult:
        """Only the responses completed `seconds` or more after the start (past a warm-up)."""
        kept = [(r, f) for r, f in zip(self.responses, self.finished, strict=True) if f >= seconds]
        return LoadResult(
            responses=[r for r, _ in kept],
            finished=[f for _, f in kept],
            errors=self.errors,
            seconds=self.seconds - seconds,
            started=self.started + seconds,
        )

    def latencies(self, status: int) -> list[float]:
        return sorted(s for code, s in self.responses if code == status)

    def count(self, status: int) -> int:
        return sum(1 for code, _ in self.responses if code == status)

    def rate(self, status: int) -> float:
        return self.count(status) / self.seconds

    def statuses(self) -> set[int]:
        return {code for code, _ in self.responses}


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile of sorted `values` (nearest rank)."""
    if not values:
        raise ValueError("no values")
    return values[min(len(values) - 1, int(fraction * len(values)))]


async def _client(
    host: str, port: int, request: bytes, until: float, result: LoadResult, honour_retry: bool
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                result.errors.append("connection closed")
                return
            length, retry_after = 0, 0.0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"retry-after":
                    retry_after = float(value)
            await reader.readexactly(length)
            now = time.perf_counter()
            result.responses.append((int(status_line.split()[1]), now - started))
            result.finished.append(now - result.started)
            if honour_retry and retry_after:
                # With jitter, as well-behaved clients retry: without it every shed client comes
                # back in the same instant, a burst that stalls the server it was told to spare.
                pause = retry_after * random.uniform(0.5, 1.5)
                await asyncio.sleep(max(0.0, min(pause, until - time.perf_counter())))
    except (OSError, asyncio.IncompleteReadError) as error:
        result.errors.append(repr(error))
    finally:
        writer.close()


def run_load(
    url_path: str, port: int, clients: int, seconds: float, honour_retry: bool = True
) -> LoadResult:
    """`clients` connections to 127.0.0.1:`port`, each sending GET `url_path` back to back
    (after a response with Retry-After, about that many seconds later, when `honour_retry`)."""
    request = f"GET {url_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    async def main() -> LoadResult:
        result = LoadResult(started=time.perf_counter())
        until = result.started + seconds
        await asyncio.gather(
            *(
                _client("127.0.0.1", port, request, until, result, honour_retry)
                for _ in range(clients)
            )
        )
        result.seconds = time.perf_counter() - result.started
        return result

    return asyncio.run(main())
