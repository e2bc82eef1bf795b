"""Epoch time of the paper-size bi-directional autoencoder: the trainer against a plain PyTorch loop.

Model: the "paper" preset (1,024 neurons per hidden layer; E 2 hidden layers, D 4), trained by
the report's Algorithm 1 (sequential, one Adam per sub-update) on 6,000 synthetic users, batch 64.

* Trainer: ``sandwichlab.training.Trainer`` (data kept on the device, batches by index
  slicing, divergence checks every 50 batches and at the epoch end).
* Plain loop (baseline): ``torch.utils.data.DataLoader(TensorDataset(...), shuffle=True)``,
  each batch copied to the device, the same model and the same step function.
* Dashboard overhead: the trainer with the sandwich dashboard's throttled callbacks
  subscribed (outside a kernel they redraw on the training thread: the worst case) against
  the trainer alone.

GPU rows appear automatically when ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import copy
import os
import time

import torch

# Before anything creates torch's OpenMP threads (they inherit it): denormal floats flushed to
# zero for every loop measured here, as the Trainer does in its own thread.
torch.set_flush_denormal(True)

from _common import fmt_s, machine, peak_rss_mb, table  # noqa: E402

from sandwichlab.data import make_app_categories  # noqa: E402
from sandwichlab.models import AlternatingUpdate, build_model, get_preset  # noqa: E402
from sandwichlab.training import Stage, Trainer  # noqa: E402

N_USERS = 6000
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))


def data(n_users=N_USERS):
    syn = make_app_categories(n_users=7857, seed=0)["train"]  # the published split: 6,000 training users
    t = {k: torch.as_tensor(getattr(syn, k), dtype=torch.float32) for k in ("app", "l1", "l2")}
    return {k: v[:n_users] for k, v in t.items()}


def mse(p, t):
    return ((p - t) ** 2).sum() / p.shape[0]


def fresh(model0, device):
    m = copy.deepcopy(model0).to(device)
    p = get_preset("paper")
    return m, AlternatingUpdate(m, mse, p.lr, p.lr, optimizer="adam", weight_decay=p.weight_decay)


def plain_epoch(model0, d, device, batch_size):
    m, step = fresh(model0, device)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(d["app"], d["l1"], d["l2"]),
                                         batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))

    def run():
        m.train()
        for app, l1, l2 in loader:
            step({"app": app.to(device, non_blocking=True), "l1": l1.to(device, non_blocking=True),
                  "l2": l2.to(device, non_blocking=True)})
        if device.type == "cuda":
            torch.cuda.synchronize()
    return run


def trainer_epoch(model0, d, device, batch_size, dashboard=False):
    m, step = fresh(model0, device)
    tr = Trainer(m, d, batch_size=batch_size, device=device, seed=0)
    stage = Stage("alternating (Algorithm 1)", 1, step)
    if dashboard:
        from sandwichlab.ui.sandwich import SandwichDashboard

        dash = SandwichDashboard(preset="paper")
        dash.attach(_RunShim(tr, stage))
        dash._reset(dash.run)

    def run():
        tr.run([stage])
        if device.type == "cuda":
            torch.cuda.synchronize()
    return run


class _RunShim:
    """What the dashboard reads from a SandwichRun: its trainer, stages and label."""

    def __init__(self, trainer, stage):
        self.trainer, self.stages, self.label = trainer, [stage], "bi-directional (benchmark)"

    def results(self):
        return {}


def timed(fns: dict, repeat=REPEAT) -> dict:
    """Median seconds per call of each function; calls interleaved (A B C A B C ...) after
    one warm-up each, so a noisy neighbour slows every variant alike."""
    for fn in fns.values():
        fn()  # warm-up (allocator, Adam state)
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def main():
    torch.manual_seed(0)
    d = data()
    model0 = build_model("bidirectional", "paper")
    n_params = sum(p.numel() for p in model0.parameters())
    bs = get_preset("paper").batch_size
    cpu = torch.device("cpu")
    rows = []
    t = timed({"plain": plain_epoch(model0, d, cpu, bs), "ours": trainer_epoch(model0, d, cpu, bs),
               "dash": trainer_epoch(model0, d, cpu, bs, dashboard=True)})
    plain, ours, dash = t["plain"], t["ours"], t["dash"]
    rows.append(["CPU", "plain DataLoader loop (baseline)", fmt_s(plain), "1.00x", ""])
    rows.append(["CPU", "Trainer", fmt_s(ours), f"{plain / ours:.2f}x", "goal: >= 1.00x (no slower)"])
    rows.append(["CPU", "Trainer + dashboard callbacks", fmt_s(dash), f"{plain / dash:.2f}x",
                 f"overhead vs Trainer {100 * (dash / ours - 1):+.1f} % (goal <= 5 %)"])
    gpu_note = "No GPU was available in this run: no GPU rows."
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        g = timed({"plain": plain_epoch(model0, d, gpu, bs), "ours": trainer_epoch(model0, d, gpu, bs),
                   "dash": trainer_epoch(model0, d, gpu, bs, dashboard=True)})
        gplain, gours, gdash = g["plain"], g["ours"], g["dash"]
        name = torch.cuda.get_device_name(0)
        rows.append([f"GPU ({name})", "plain DataLoader loop", fmt_s(gplain), f"{plain / gplain:.2f}x", ""])
        rows.append([f"GPU ({name})", "Trainer", fmt_s(gours), f"{plain / gours:.2f}x",
                     f"{gplain / gours:.2f}x the GPU plain loop (goal >= 3x)"])
        rows.append([f"GPU ({name})", "Trainer + dashboard callbacks", fmt_s(gdash), f"{plain / gdash:.2f}x",
                     f"overhead vs Trainer {100 * (gdash / gours - 1):+.1f} %"])
        gpu_note = f"GPU: {name}."
    print("## bench_training: one epoch of the paper-size bi-directional autoencoder\n")
    print(f"Command: `python benchmarks/run_all.py bench_training`  \nMachine: {machine()}  \n"
          f"Model: E 52-1024-1024-23, D 52-1024x4-164, connectors 23<->164 ({n_params:,} parameters); "
          f"Algorithm 1 (sequential, Adam per sub-update); {N_USERS:,} synthetic users, batch {bs}, "
          f"{-(-N_USERS // bs)} steps per epoch; median of {REPEAT} epochs each after one warm-up, the three loops interleaved; "
          f"torch threads {torch.get_num_threads()}.  \n{gpu_note}\n")
    print(table(["device", "loop", "epoch", "speed vs CPU plain loop", "note"], rows))
    print(f"\nPeak memory {peak_rss_mb():.0f} MB. The dashboard row subscribes the sandwich dashboard's "
          f"callbacks (per-step losses buffered, figures redrawn at most 5 times a second). Every loop runs "
          f"with denormals flushed to zero (the Trainer sets it in its own thread; without it some "
          f"Algorithm-1 steps ran 20-30x slower here).")


if __name__ == "__main__":
    main()
