"""The loss race: N losses trained at once against N separate single-loss runs.

Goal: comparing N losses in one LossRace (one Trainer, one step updating N
copies on the same batch, a per-copy divergence check every step) costs no
more than training the N models one after the other with ``supervised_step``.
Also: what one dashboard redraw (curves + table) costs.
"""

from __future__ import annotations

import statistics
import time

import torch
from _common import fmt_s, machine, peak_rss_mb, table, timeit

from sandwichlab.compare import LossRace, l2_task
from sandwichlab.losses import get_loss
from sandwichlab.metrics import precision_at_k
from sandwichlab.models import mlp
from sandwichlab.training import Stage, Trainer, supervised_step

LOSSES = ["mse", "masked", "reference_masked", "confidence", "sampled"]
HIDDEN, EPOCHS, BATCH = (256, 256), 2, 64


def race(task):
    r = LossRace(task, LOSSES, hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, seed=0, device="cpu")
    r.run()


def separate(task):
    """The same work one loss at a time: own Trainer, supervised_step, and the race's evaluation
    (own loss on every training user and precision@5 on the held-out users, at the start and after
    every epoch)."""
    x_eval = torch.as_tensor(task.x_eval, dtype=torch.float32)
    for name in LOSSES:
        torch.manual_seed(0)
        model = mlp([52, *HIDDEN, 164])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss = get_loss(name, reduction="mean")
        step = supervised_step(model, loss, opt, x="x", y="y")
        trainer = Trainer(model, {"x": task.x_train, "y": task.y_train}, batch_size=BATCH, device="cpu", seed=0)

        def evaluate(model=model, loss=loss, trainer=trainer):
            with torch.no_grad():
                return {"loss": float(loss(model(trainer.data["x"]), trainer.data["y"])),
                        "p@5": precision_at_k(model(x_eval), task.y_eval, 5)}
        model.eval()
        evaluate()
        trainer.run([Stage(name, EPOCHS, step, evaluate=evaluate)])


def main():
    task = l2_task(source="synthetic", n_users=7857, seed=0)
    # Interleaved, so that a change in machine load hits both alike.
    times = {"race": [], "separate": []}
    race(task)  # warm-up
    for _ in range(5):
        for name, fn in (("race", race), ("separate", separate)):
            t0 = time.perf_counter()
            fn(task)
            times[name].append(time.perf_counter() - t0)
    ours, base = ({"min": min(times[k]), "median": statistics.median(times[k])} for k in ("race", "separate"))

    import sandwichlab.ui.masked_loss as ui

    ui.get_task = lambda *a, **k: task  # the dashboard draws this race's task, whatever data is present
    dash = ui.LossRaceDashboard(LOSSES, epochs=EPOCHS, hidden=(16,), device="cpu")
    dash.widget()
    dash._on_start()
    dash.race.wait()
    redraw = timeit(dash._redraw, repeat=20)

    print("## bench_masked_loss: five losses in one race vs five separate runs\n")
    print(f"Command: `python benchmarks/run_all.py bench_masked_loss`  \nMachine: {machine()}  \n"
          f"Work: App->L2 MLP 52-{'-'.join(map(str, HIDDEN))}-164, {len(task.x_train):,} synthetic training users, "
          f"batch {BATCH}, {EPOCHS} epochs, Adam, CPU, losses {', '.join(LOSSES)}\n")
    print(table(["what", "min of 5", "median of 5", "ratio of mins to separate runs"],
                [["LossRace: one Trainer, every copy stepped on the same batch, per-copy guard, per-epoch evaluation",
                  fmt_s(ours["min"]), fmt_s(ours["median"]), f"{ours['min'] / base['min']:.2f}x"],
                 ["five Trainer runs with supervised_step, one loss each, same evaluation (baseline)",
                  fmt_s(base["min"]), fmt_s(base["median"]), "1.00x"],
                 ["one dashboard redraw (two panels, 5 losses, results table)", fmt_s(redraw["min"]),
                  fmt_s(redraw["median"]), ""]]))
    print("\nRuns alternate (race, separate, race, ...) so that changes in machine load hit both; on a busy "
          "machine the median swings by 10x, the minimum much less.")
    print(f"\nPeak memory: {peak_rss_mb():.0f} MB. Goal: the race costs at most about the separate runs "
          f"(ratio <= 1.1x); a redraw well under the 0.1 s between throttled redraws.")


if __name__ == "__main__":
    main()
