"""Benchmark: the latency of a poem request while `/v1/check` is flooded with large texts.

A `yinshi serve` is started on a free port over --model-dir (or --url names a running one). First
--poems poem requests one after another, alone; then the same while --checks check requests of
20,000 characters (~60 KB) are all in flight at once. Printed: the poem latencies (p50, max) alone and
during the flood, and the flood's answers by status (503: refused at once by the bounded check
pool).

    python benchmarks/check_flood.py --checks 1000 --poems 20
"""

from __future__ import annotations

import asyncio
import collections
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fuzz_http import a_server  # noqa: E402

TEXT = ("床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" * 800)[:20_000]  # ~60 KB, under the 64 KB body limit


async def poem_latencies(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        async with session.post(f"{url}/v1/poems", json={"keyword": "春", "seed": i}) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(url: str, checks: int, poems: int) -> None:
    connector = aiohttp.TCPConnector(limit=checks + 10)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        await poem_latencies(session, url, 3)  # warm
        alone = await poem_latencies(session, url, poems)

        body = json.dumps({"text": TEXT}, ensure_ascii=False).encode()

        async def one_check() -> int:
            async with session.post(f"{url}/v1/check", data=body, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                return resp.status

        started = time.perf_counter()
        flood = [asyncio.ensure_future(one_check()) for _ in range(checks)]
        await asyncio.sleep(0.2)  # the flood is in flight
        during = await poem_latencies(session, url, poems)
        statuses = collections.Counter(await asyncio.gather(*flood))
        flood_s = time.perf_counter() - started
    for label, values in (("alone", alone), ("during the flood", during)):
        print(f"poem latency {label:17s} p50 {statistics.median(values):7.1f} ms  max {max(values):7.1f} ms")
    print(f"{checks} checks answered in {flood_s:.1f} s: {dict(sorted(statuses.items()))}")


def main(
    checks: int = typer.Option(1000, help="check requests in flight at once"),
    poems: int = typer.Option(20, help="poem requests timed, alone and during the flood"),
    url: str = typer.Option(None, help="measure this running server instead of starting one"),
    model_dir: Path = typer.Option(None, help="models of the started server (default: settings.model_dir)"),
) -> None:
    with a_server(url, model_dir) as (base, _):
        asyncio.run(measure(base, checks, poems))


if __name__ == "__main__":
    typer.run(main)
