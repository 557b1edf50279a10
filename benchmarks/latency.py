"""What the HTTP latency benchmarks (slack_ack.py, teams_turn.py) share: a phase's record and its
percentiles, the driver that keeps requests in flight, the phase loop (warm-up, settle, full garbage
collection, timed run), waiting for background work to settle, counting what was logged, serving a
bare app on loopback, the lifetime of Pairbot, client and bare app, the RSVP answers stored, the
summary lines and the command line.

Imported by those scripts as `latency`, after they have put the project root (for `bot`) and this
folder on sys.path; they are run as `python benchmarks/<name>.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.models import Participant, Person, Rsvp

# One request: the body as sent and its headers, built (and signed) before the clock starts.
Request = tuple[bytes, Mapping[str, str]]


@dataclass
class Phase:
    """One timed phase: an app at a concurrency level (and, where a benchmark has several, a kind of
    request). p50 / p99 come from statistics.quantiles(n=100, inclusive), in milliseconds."""

    app: str
    concurrency: int
    kind: str = ""
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    @property
    def name(self) -> str:
        """As the lines show it: `bare c=10`, or with a kind `pairbot click c=50`."""
        return f"{self.app} {self.kind} c={self.concurrency}" if self.kind else f"{self.app} c={self.concurrency}"

    def quantiles(self) -> tuple[float, float]:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[49] * 1000, cuts[98] * 1000

    def p99(self) -> float:
        return self.quantiles()[1]

    def line(self) -> str:
        p50, p99 = self.quantiles()
        return f"{self.name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(self.latencies)} requests)"


async def drive(http: aiohttp.ClientSession, url: str, make_request: Callable[[], Request], count: int,
                concurrency: int, phase: Phase | None) -> Counter:
    """`count` requests, `concurrency` of them in flight at any time; statuses (0: no response).
    Each request is timed from just before the POST to the end of the response."""
    issued = itertools.count()
    statuses: Counter = Counter()

    async def worker() -> None:
        while next(issued) < count:
            data, headers = make_request()
            started = time.perf_counter()
            try:
                async with http.post(url, data=data, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as failure:
                print(f"request failed: {failure!r}", file=sys.stderr)
                status = 0
            elapsed = time.perf_counter() - started
            statuses[status] += 1
            if phase is not None:
                phase.latencies.append(elapsed)
                phase.statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return statuses


async def run_phases(http: aiohttp.ClientSession, urls: Mapping[str, str],
                     makers: Mapping[str, Callable[[], Request]], levels: tuple[int, ...], apps: tuple[str, ...],
                     args: argparse.Namespace, settle: Callable[[], Awaitable[None]]) -> list[Phase]:
    """Each kind of request (the keys of `makers`; "" where there is one kind), at each concurrency
    level, against each app: `args.warmup` untimed requests, then `args.requests` timed ones in
    `args.rounds` rounds that alternate the apps (A B, B A, ...), so a slow spell of the machine
    lands on both rather than on whichever app ran then. Before each round, background work is
    left to settle and a full garbage collection is run. Each app's line is printed at the end."""
    phases: list[Phase] = []
    rounds = max(1, min(getattr(args, "rounds", 1), args.requests // 2))
    shares = [args.requests // rounds + (1 if r < args.requests % rounds else 0) for r in range(rounds)]
    for kind, make_request in makers.items():
        for level in levels:
            timed = {app: Phase(app, level, kind) for app in apps}
            for app in apps:
                await drive(http, urls[app], make_request, args.warmup, level, None)
                await settle()
            for number, share in enumerate(shares):
                for app in apps if number % 2 == 0 else tuple(reversed(apps)):
                    gc.collect()  # a full collection owed to earlier rounds' garbage lands in neither
                    await drive(http, urls[app], make_request, share, level, timed[app])
                    await settle()
            for app in apps:
                phases.append(timed[app])
                print(timed[app].line(), flush=True)
    return phases


async def settle(snapshot: Callable[[], tuple], idle: Callable[[tuple], bool], describe: Callable[[tuple], str],
                 quiet: float = 0.3, limit: float = 60.0) -> None:
    """Until `snapshot()` has not changed for `quiet` seconds and `idle` holds for it; after `limit`
    seconds, a warning on stderr (with `describe` of the last snapshot) instead."""
    deadline = time.monotonic() + limit
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        current = snapshot()
        if current != last:
            last, since = current, time.monotonic()
        elif idle(current) and time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.05)
    print(f"warning: background work did not settle within {limit:.0f} s ({describe(last)})", file=sys.stderr)


class LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records[record.levelname] += 1


def count_logs() -> LogCounter:
    """Warnings and errors go to stderr, and are counted for the summary."""
    counter = LogCounter()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(counter)
    return counter


def client() -> aiohttp.ClientSession:
    """One session for every request, with room for 100 in flight."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100, limit_per_host=100))


async def serve(path: str,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    """`handler` at POST `path` on a loopback port of its own: the runner (to clean up) and the URL."""
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}{path}"


@dataclass
class Bench:
    """What a run holds: the Pairbot under test, the client session and, once started, the bare
    app's runner."""

    bot: Any
    http: aiohttp.ClientSession
    bare: web.AppRunner | None = None


@asynccontextmanager
async def bench(prefix: str, start_bot: Callable[[Path], Awaitable[Any]],
                stop_bot: Callable[[Any], Awaitable[None]]) -> AsyncIterator[Bench]:
    """Pairbot started by `start_bot` in a temporary directory and a client session; at the end the
    session is closed, the bare app (if started) cleaned up and Pairbot stopped, in that order."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        bot = await start_bot(Path(tmp))
        run = Bench(bot, client())
        try:
            yield run
        finally:
            await run.http.close()
            if run.bare is not None:
                await run.bare.cleanup()
            await stop_bot(bot)


def rsvp_answers(bot, user_id: str) -> list[str]:
    """The RSVP answers Pairbot has stored for the person with this platform user id."""
    with bot.db.session() as session:
        return list(session.scalars(select(Rsvp.answer).where(Rsvp.participant_id == Participant.id,
                                                              Participant.person_id == Person.id,
                                                              Person.user_id == user_id)).all())


def finish(phases: list[Phase], expected: int, work: str, counter: LogCounter, figures: str) -> int:
    """Prints the work line, what was logged, any status other than `expected` (by phase) and last
    the figures; the exit status: 1 if any response was not `expected`, else 0."""
    bad = {p.name: {s: n for s, n in p.statuses.items() if s != expected}
           for p in phases if set(p.statuses) != {expected}}
    print(work)
    if counter.records:
        print(f"logged during the run: {dict(counter.records)} (see stderr)")
    if bad:
        print(f"responses other than HTTP {expected} (status: count; 0 = no response): {bad}")
    print(figures, flush=True)
    return 1 if bad else 0


def main(run: Callable[[argparse.Namespace], Awaitable[int]], doc: str, requests: int, per: str) -> None:
    """The command line (--requests, timed, per `per`, default `requests`; --warmup, default 50;
    checked), then `run` on a fresh event loop, whose result is the exit status."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=requests,
                        help=f"timed requests per {per} (default {requests})")
    parser.add_argument("--warmup", type=int, default=50,
                        help="untimed requests before each timed phase, at its concurrency (default 50)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds the timed requests are split into, alternating the apps (default 4)")
    args = parser.parse_args()
    if args.requests < 2:
        parser.error("--requests must be at least 2 (quantiles need two figures)")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sys.exit(asyncio.run(run(args)))

