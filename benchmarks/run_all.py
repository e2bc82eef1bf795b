"""Run the benchmark scripts and rewrite their sections of benchmarks/RESULTS.md.

    python benchmarks/run_all.py                 # every bench_*.py
    python benchmarks/run_all.py bench_targets   # just these (other sections kept)

Each script prints a Markdown section; it lands between
``<!-- bench:NAME -->`` markers, so one script can be rerun without losing the rest.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADER = """# Benchmark results

Written by `make bench` (`python benchmarks/run_all.py`); each section names the command
that produced it, the machine it ran on, and the baseline measured in the same run.
Goals are ratios or budgets checked here, never timed assertions in the test suite.
"""


def section(name: str, body: str) -> str:
    return f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {n.removesuffix(".py") for n in names}
        unknown = wanted - {s.stem for s in scripts}
        if unknown:
            print(f"unknown benchmark(s): {sorted(unknown)}; have {[s.stem for s in scripts]}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem in wanted]
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            failed += 1
            body = f"## {script.stem}\n\nFAILED (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```"
        else:
            body = proc.stdout
        print(body, flush=True)
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
        block = section(script.stem, body)
        pattern = re.compile(rf"<!-- bench:{re.escape(script.stem)} -->.*?<!-- /bench:{re.escape(script.stem)} -->", re.S)
        text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
