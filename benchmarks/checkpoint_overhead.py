"""Cost of dialog shard checkpoints: ``generate_dialogs`` with and without them, side by side.

The dialogs are generated through the openai backend against the loopback test server (a scripted
model with a fixed latency per request), so the figure is the checkpointing's own cost -- JSON
encoding and an fsync'd atomic write per shard -- on top of the generation loop; the batching is
the same either way (shards are saved inside a chunk as their last dialog ends).

    .venv/bin/python benchmarks/checkpoint_overhead.py --dialogs 300 --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipelines.dialog_generation.conftest import PARAMS, POOL, scripted_dialog_answer  # noqa: E402
from tests.support.openai_server import serve_in_thread  # noqa: E402
from toolace_kedro.pipelines.dialog_generation.nodes import generate_dialogs  # noqa: E402


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema")
    return scripted_dialog_answer(messages, payload, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogs", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--shard", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    params = {**copy.deepcopy(PARAMS), "n_dialogs": args.dialogs, "chunk_size": args.chunk}
    times: dict[str, list[float]] = {"without": [], "with": []}
    with serve_in_thread(latency=args.latency, responder=respond) as (url, _), tempfile.TemporaryDirectory() as tmp:
        llm = {"backend": "openai", "base_url": url, "model": "bench", "cache_dir": None, "progress": False,
               "max_concurrency": 64, "api_key_env": "TOOLACE_BENCH_KEY", "credentials": None}
        for r in range(args.rounds):
            for mode in ("without", "with"):
                checkpoint = {"dir": f"{tmp}/{r}", "shard_size": args.shard} if mode == "with" else None
                start = time.perf_counter()
                dialogs, report = generate_dialogs(copy.deepcopy(POOL), llm, {**params, "checkpoint": checkpoint})
                times[mode].append(time.perf_counter() - start)
    a, b = statistics.median(times["without"]), statistics.median(times["with"])
    shards = -(-args.dialogs // args.shard)
    print(f"{args.dialogs} dialogs, {report['llm']['requests']} requests, chunk {args.chunk}, {shards} shards of "
          f"{args.shard}: without checkpoints {a:.2f} s, with {b:.2f} s (median of {args.rounds}); "
          f"{1000 * (b - a) / shards:+.1f} ms per shard "
          f"(with: {', '.join(f'{t:.2f}' for t in times['with'])}; without: "
          f"{', '.join(f'{t:.2f}' for t in times['without'])})")


if __name__ == "__main__":
    main()
