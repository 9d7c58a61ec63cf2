"""Trial planning for MetaSchedule: how many trials each task gets, and which shard tunes it.

Pure functions of the task list (names, FLOPs, which tasks have one schedule): the same
inputs always give the same plan, and no TVM is needed to compute one.
"""

from __future__ import annotations


def allocate_trials(flops: dict[str, float], total: int, min_per_task: int,
                    one_schedule: frozenset[str] = frozenset()) -> dict[str, int]:
    """Every task gets `min_per_task` trials (no naive schedules); the rest goes by FLOPs.

    A task in `one_schedule` gets one trial (none if `min_per_task` is 0) and no FLOPs share.
    """
    searched = {name: f for name, f in flops.items() if name not in one_schedule}
    base = {name: (min(1, min_per_task) if name in one_schedule else min_per_task) for name in flops}
    spare = max(0, total - sum(base.values()))
    weight = sum(searched.values()) or 1.0
    shares = {name: spare * f / weight for name, f in searched.items()}
    extra = {name: int(s) for name, s in shares.items()}
    # Hand out what rounding down left, largest remainders first.
    for name in sorted(shares, key=lambda n: shares[n] - extra[n], reverse=True)[: spare - sum(extra.values())]:
        extra[name] += 1
    return {name: base[name] + extra.get(name, 0) for name in flops}


def plan_shards(flops: dict[str, float], shards: int, one_schedule: frozenset[str] = frozenset()) -> dict[str, int]:
    """Assign tasks to shards with about equal expected tuning work, whatever the budget.

    A searched task's weight is half a uniform share and half its FLOPs share, which is
    roughly how trials are allocated; a one-schedule task (one trial) counts a tenth of a
    uniform share. No weight depends on the trial count, so raising the budget never moves
    a task to a shard whose cache lacks its records (it would start its search over).
    """
    total = sum(flops.values()) or 1.0
    uniform = 1.0 / len(flops)
    weight = {name: 0.1 * uniform if name in one_schedule else 0.5 * uniform + 0.5 * f / total
              for name, f in flops.items()}
    load = [0.0] * shards
    plan = {}
    for name in sorted(weight, key=lambda n: (-weight[n], n)):
        shard = load.index(min(load))
        plan[name] = shard
        load[shard] += weight[name]
    return plan


def plan_trials(tasks: dict, total_trials: int, min_per_task: int, shards: int) -> dict:
    """Trials per task and the shard that tunes it; the same inputs always give the same plan."""
    flops = tasks["tasks"]
    one_schedule = frozenset(tasks.get("one_schedule", ()))
    trials = allocate_trials(flops, total_trials, min_per_task, one_schedule)
    shard_of = plan_shards(flops, shards, one_schedule)
    return {
        "target": tasks["target"],
        "widths": tasks["widths"],
        "tasks": [{"name": n, "flops": flops[n], "trials": trials[n], "shard": shard_of[n]} for n in sorted(flops)],
    }
