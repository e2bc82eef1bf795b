"""Compute the report's Table 1 honestly: every model x loss, two baselines, mean +- std over seeds.

    .venv/bin/python tools/table1.py                       # synthetic users and (if present) the published vectors
    .venv/bin/python tools/table1.py --data synthetic --seeds 0 1 2 --losses mse masked

Writes notebooks/results/table1_runs.csv (one line per run) and
notebooks/results/table1.md (the summary the notebook shows, with the command,
machine and wall time).  Uses the "classroom" preset (256 neurons per
hidden layer); the recorded run (3 losses, 3 seeds, both data sets) took 23 minutes
on 2 CPU cores shared with other work (see its table1.md); use `--losses mse masked` for
about two thirds of that.
Each data set runs in its own process (one torch thread each), in parallel.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "notebooks" / "results"


def run_one(data: str, seeds, losses, preset: str, path: Path) -> None:
    import torch

    from sandwichlab.data import app_categories, make_app_categories
    from sandwichlab.recommend import make_task, table1_runs

    torch.set_num_threads(1)
    ds = make_app_categories(seed=0) if data == "synthetic" else app_categories()
    if data == "published" and ds.synthetic:
        print("published vectors not found; skipping", file=sys.stderr)
        return
    task = make_task(ds)
    t0 = time.perf_counter()

    def progress(i, n, rec):
        print(f"[{data}] {i}/{n} {rec['model']} {rec['loss']} seed {rec['seed']}: "
              f"acc {rec['category_accuracy']:.3f} ({rec['seconds']:.0f} s, {time.perf_counter() - t0:.0f} s total)",
              flush=True)

    records = table1_runs(task, losses=losses, seeds=seeds, preset=preset, progress=progress)
    with open(path, "w", newline="") as fh:
        keys = list(records[0])
        for r in records[1:]:
            keys += [k for k in r if k not in keys]
        w = csv.DictWriter(fh, fieldnames=["data", *keys])
        w.writeheader()
        for r in records:
            w.writerow({"data": data, **r})
    with open(path.with_suffix(".meta"), "w") as fh:
        fh.write(f"{task.source}\n{task.roles}\n{task.parent_source}\n")


def fmt(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def markdown(rows_by_data: dict, meta: dict, command: str, machine: str, wall: float, seeds, preset) -> str:
    from sandwichlab.models import get_preset
    from sandwichlab.recommend import row_label, summarise

    p = get_preset(preset)
    lines = [
        "# Table 1, recomputed",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}  ",
        f"Date: {date.today().isoformat()}; wall time {wall / 60:.1f} min  ",
        f"Preset: `{p.name}` ({p.description}); epochs per stage {dict(p.epochs)}, Adam lr {p.lr}, "
        f"batch {p.batch_size}, weight decay {p.weight_decay}; seeds {list(seeds)} (mean ± sample std).",
        "",
        "Metrics on held-out test users. *Category accuracy*: the top-1 predicted L2 category is one of the user's "
        "top-1 true L2 categories (the report's metric). *P@5, MAP@5, NDCG@5*: the L2 categories ranked by the "
        "predicted L2 alone. *2-stage P@5*: predicted L1 filters (children of the top 3 predicted L1 categories "
        "first), predicted L2 ranks. *L1 acc*: top-1 of the model's own L1 output. Synthetic data only: "
        "*article P@5* (keep the 2,000 of 5,000 synthetic articles closest by L1, rank by L2) and *L2-only* "
        "(the same catalogue ranked by L2 alone). *Report* is the report's claimed category accuracy "
        "(its own data and split; not comparable one to one).",
        "",
    ]
    for data, rows in rows_by_data.items():
        src, roles, parent_src = meta[data]
        lines += [f"## {'Synthetic users' if data == 'synthetic' else 'Published vectors'}", "",
                  f"Data: {src}.  ", f"Roles: {roles}.  ", f"Parent map for the 2-stage filter: {parent_src}.", ""]
        art = data == "synthetic"
        head = ["Model + loss", "Category acc", "P@5", "MAP@5", "NDCG@5", "2-stage P@5", "L1 acc"]
        head += ["Article P@5", "Article P@5, L2 only"] if art else []
        head += ["Report"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in summarise(rows):
            keys = ["category_accuracy", "precision@5", "map@5", "ndcg@5", "two_stage_precision@5", "l1_accuracy"]
            keys += ["article_precision@5", "article_l2_only_precision@5"] if art else []
            cells = [row_label(r["model"], r["loss"])] + [fmt(r[k], r[k + "_std"]) for k in keys]
            cells.append("–" if math.isnan(r["claim"]) else f"{r['claim']:.0%}")
            lines.append("| " + " | ".join(cells) + " |")
        diverged = [f"{x['model']} + {x['loss']} seed {x['seed']}" for x in rows if x["state"] != "done"]
        if diverged:
            lines += ["", f"Runs that did not finish normally (diverged/stopped; evaluated at their restored weights): "
                          f"{', '.join(diverged)}."]
        lines.append("")
    return "\n".join(lines)


def read_records(path: Path) -> list[dict]:
    out = []
    with open(path) as fh:
        for r in csv.DictReader(fh):
            rec = {}
            for k, v in r.items():
                if k in ("data", "model", "loss", "state"):
                    rec[k] = v
                elif k == "seed":
                    rec[k] = int(v)
                else:
                    rec[k] = float(v) if v not in ("", None) else math.nan
            out.append(rec)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["synthetic", "published"], choices=["synthetic", "published"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--losses", nargs="+", default=["mse", "masked", "reference_masked"])
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one data set into this CSV path
    args = ap.parse_args(argv)
    if len(args.seeds) < 3:
        print("note: fewer than 3 seeds; the std is not meaningful", file=sys.stderr)
    if args.one:
        run_one(args.data[0], args.seeds, args.losses, args.preset, Path(args.one))
        return 0

    from _common import machine

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    procs = {}
    for data in args.data:
        part = OUT / f"table1_{data}.part.csv"
        cmd = [sys.executable, __file__, "--one", str(part), "--data", data, "--seeds", *map(str, args.seeds),
               "--losses", *args.losses, "--preset", args.preset]
        procs[data] = (subprocess.Popen(cmd), part)
    rows_by_data, meta, failed = {}, {}, 0
    for data, (proc, part) in procs.items():
        if proc.wait() != 0:
            failed += 1
            continue
        if part.exists():
            rows_by_data[data] = read_records(part)
            meta[data] = part.with_suffix(".meta").read_text().splitlines()
            part.with_suffix(".meta").unlink()
    wall = time.perf_counter() - t0
    if failed or not rows_by_data:
        print("table1: a run failed", file=sys.stderr)
        return 1
    command = "python tools/table1.py " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "python tools/table1.py"
    with open(OUT / "table1_runs.csv", "w", newline="") as fh:
        keys = []
        for rows in rows_by_data.values():
            for r in rows:
                keys += [k for k in r if k not in keys]
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for rows in rows_by_data.values():
            w.writerows(rows)
    for data in rows_by_data:
        (OUT / f"table1_{data}.part.csv").unlink()
    md = markdown(rows_by_data, meta, command.strip(), machine(), wall, args.seeds, args.preset)
    (OUT / "table1.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
