"""End-to-end `kedro run` (the default pipeline, what `make run` runs): wall time, peak RSS and the
slowest nodes, from a cold start of everything the run can reuse.

The LLM response cache and the synthesis checkpoints are pointed at a fresh temporary folder, so
nothing from an earlier run is reused (the converted embedded model in the model cache is kept: a
fresh machine pays ~20 s more once). Peak RSS is the largest resident set of the `kedro run`
process (and of any child, e.g. `accelerate launch`), sampled every 0.5 s and read from
`getrusage` at the end. Per-node seconds come from the project's `NodeResourcesHook` log lines.

    .venv/bin/python benchmarks/end_to_end.py [--pipeline __default__] [--keep-log run.log] [--params k=v,...]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_LINE = re.compile(r"node (\S+): ([0-9.]+) s, peak RSS so far ([0-9.]+) GB")


def _tree_rss(pid: int) -> int:
    """Largest RSS (bytes) among ``pid`` and its descendants (Linux /proc)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    best = 0
    for p in procs:
        try:
            best = max(best, p.memory_info().rss)
        except psutil.Error:
            pass
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default=None, help="a registered pipeline (default: the whole run)")
    parser.add_argument("--keep-log", default=None, help="write the run's log here")
    parser.add_argument("--extra", default="", help="more `kedro run` arguments, e.g. '--env paper'")
    parser.add_argument("--params", default="", help="more runtime parameters, joined to the script's own "
                                                     "--params, e.g. 'irft.optimisation.mmap_threshold_mib=0.25'")
    args = parser.parse_args()

    fresh = Path(tempfile.mkdtemp(prefix="toolace-e2e-"))
    params = ",".join([f"llm.cache_dir={fresh / 'llm_cache'}",
                       f"api_synthesis.checkpoint.dir={fresh / 'ckpt_api'}",
                       f"dialog_generation.checkpoint.dir={fresh / 'ckpt_dialogs'}"] + ([args.params] if args.params else []))
    command = [str(ROOT / ".venv/bin/kedro"), "run", "--params", params]
    if args.pipeline:
        command += ["--pipelines", args.pipeline]
    command += args.extra.split()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    print("running:", " ".join(command), flush=True)
    log_path = Path(args.keep_log) if args.keep_log else fresh / "run.log"
    peak = [0]
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        sampler.join()
    wall = time.perf_counter() - started
    rusage_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    text = log_path.read_text(encoding="utf-8", errors="replace")
    nodes = [(m.group(1), float(m.group(2)), float(m.group(3))) for m in NODE_LINE.finditer(re.sub(r"\s+", " ", text))]
    print(f"exit code {rc}; wall {wall:.0f} s ({wall / 60:.1f} min); peak RSS {max(peak[0], rusage_peak) / 1e9:.2f} GB "
          f"(sampled tree {peak[0] / 1e9:.2f} GB, largest process by getrusage {rusage_peak / 1e9:.2f} GB)")
    stages: dict[str, float] = {}
    for name, seconds, _ in nodes:
        stages[name] = seconds
    print(f"{len(nodes)} nodes; slowest:")
    for name, seconds in sorted(stages.items(), key=lambda item: -item[1])[:12]:
        print(f"  {seconds:7.1f} s  {name}")
    print(f"log: {log_path}")
    sys.exit(rc)


if __name__ == "__main__":
    main()
