"""``reidkit doctor``: check the environment, and under torchrun the collectives, before a long run.

Single process: versions, CUDA devices, faiss GPU support, CPU threads, backends. Under
``torchrun --nproc-per-node N --no-python reidkit doctor`` every rank also starts the process group
(the same way a run does), compares notes, checks all_reduce, all_gather and broadcast at a few
sizes and times them; rank 0 prints the report. Exit 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
_SIZE = re.compile(r"(\d+)\s*([KMG]?B?)", re.IGNORECASE)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"1KB,1MB,16MB"`` -> bytes per rank (binary units)."""
    sizes = []
    for item in text.split(","):
        match = _SIZE.fullmatch(item.strip())
        unit = match.group(2).upper() if match else ""
        unit = unit if unit.endswith("B") or not unit else unit + "B"
        if match is None or unit not in _UNITS or int(match.group(1)) * _UNITS[unit] < 4:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} is not a size of at least 4 bytes like 1KB, 1MB or 16MB")
        sizes.append(int(match.group(1)) * _UNITS[unit])
    return tuple(sizes)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check torch/CUDA/faiss and, under torchrun, all_reduce/all_gather/broadcast across the ranks",
        description="Run it alone for the environment; run it as "
        "`torchrun --standalone --nproc-per-node N --no-python reidkit doctor` to check the collectives too.",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda (default: auto)")
    parser.add_argument(
        "--sizes", type=parse_sizes, default=(1 << 10, 1 << 20, 16 << 20), help="tensor sizes per rank (default: 1KB,1MB,16MB)"
    )
    parser.add_argument("--repeats", type=_positive(int), default=5, help="timed runs per check (default: 5)")
    parser.add_argument(
        "--timeout", type=_positive(float), default=60.0,
        help="seconds a rank waits for the others (rendezvous, each collective) before failing (default: 60)",
    )  # fmt: skip
    parser.add_argument(
        "--soak", type=float, default=0.0, metavar="SECONDS",
        help="after the checks, all-reduce and check 1 MB again and again for this long (a burn-in)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reidkit.adapters.runtime.device import resolve_device
    from reidkit.adapters.runtime.environment import describe_environment
    from reidkit.adapters.runtime.process_group import Launch, backend_for, harden_nccl, rank_device

    launch = Launch.from_environ(os.environ)
    device = rank_device(launch, resolve_device(args.device))
    backend = backend_for(device)
    if backend == "nccl" and launch.distributed:
        harden_nccl(os.environ)
    report: dict[str, Any] = {
        "environment": describe_environment(os.environ),
        "launch": {
            "rank": launch.rank, "world_size": launch.world_size, "local_rank": launch.local_rank,
            "backend": backend if launch.distributed else None, "device": str(device),
            "master_addr": launch.master_addr or None, "master_port": launch.master_port or None,
        },
    }  # fmt: skip
    if launch.distributed:
        report.update(_check_ranks(launch, backend, device, args))
        report["ok"] = all(c["ok"] for c in report["collectives"]) and report.get("soak", {}).get("ok", True)
    else:
        report["note"] = (
            "single process: collectives not checked; run `torchrun --standalone --nproc-per-node N "
            "--no-python reidkit doctor` to check them across N ranks"
        )
        report["ok"] = True
    if launch.rank == 0:
        print(json.dumps(report, indent=2) if args.json else render(report))
    if not report["ok"]:
        print(f"reidkit: doctor: {failure_summary(report)}", file=sys.stderr)
        return 1
    return 0


def _check_ranks(launch: Any, backend: str, device: Any, args: argparse.Namespace) -> dict[str, Any]:
    import attrs
    import torch.distributed as dist

    from reidkit.adapters.runtime.collectives_check import check_collectives, soak
    from reidkit.adapters.runtime.environment import describe_rank
    from reidkit.adapters.runtime.process_group import process_group

    with process_group(launch, backend, timeout_s=args.timeout, device=device):
        ranks: list[Any] = [None] * launch.world_size
        dist.all_gather_object(ranks, describe_rank(launch.rank, device))
        checks = check_collectives(device, args.sizes, repeats=args.repeats)
        result: dict[str, Any] = {
            "timeout_s": args.timeout,
            "ranks": ranks,
            "collectives": [{**attrs.asdict(c), "ok": c.ok} for c in checks],
        }
        if args.soak > 0:
            if launch.rank == 0:
                print(f"reidkit doctor: checks done, soaking for {args.soak:g} s", file=sys.stderr, flush=True)
            burn_in = soak(device, args.soak)
            result["soak"] = {**attrs.asdict(burn_in), "ok": burn_in.ok}
    return result


def failure_summary(report: dict[str, Any]) -> str:
    wrong = [
        f"{c['collective']} {human_size(c['size_bytes'])} on rank(s) {', '.join(map(str, c['failed_ranks']))}"
        for c in report.get("collectives", [])
        if not c["ok"]
    ]
    soak = report.get("soak")
    if soak and not soak["ok"]:
        wrong.append(f"soak all_reduce on rank(s) {', '.join(map(str, soak['failed_ranks']))}")
    return "wrong results: " + "; ".join(wrong) + "; do not start a long run on these ranks"


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def render(report: dict[str, Any]) -> str:
    env, launch = report["environment"], report["launch"]
    cuda, cpu = env["cuda"], env["cpu"]
    faiss = "not installed" if env["faiss"] is None else f"{env['faiss']}, GPU support: " + (
        f"yes ({env['faiss_gpus']} GPU(s))" if env["faiss_gpus"] else "no (CPU build or no GPU visible)"
    )
    if cuda["available"]:
        devices = "; ".join(
            f"cuda:{d['index']} {d['name']} {d['memory_gib']} GiB sm_{d['capability'].replace('.', '')}"
            f"{' bf16' if d['bf16'] else ''}"
            for d in cuda["devices"]
        )
        cuda_line = f"{len(cuda['devices'])} device(s): {devices}; cuDNN {cuda['cudnn']}, NCCL {cuda['nccl']}"
    else:
        cuda_line = f"not available (torch built with CUDA {cuda['torch_built_with'] or 'none'})"
    backends = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in env["backends"].items())
    lines = [
        "environment",
        f"  host         {env['host']}",
        f"  python       {env['python']}",
        f"  torch        {env['torch']}",
        f"  torchvision  {env['torchvision'] or 'not installed'}",
        f"  faiss        {faiss}",
        f"  CUDA         {cuda_line}",
        f"  CPU          {cpu['usable_cores']} of {cpu['cores']} cores usable, torch threads {cpu['torch_threads']}, "
        f"{cpu['capability']}",
        f"  backends     {backends}",
        f"  launch       rank {launch['rank']} of {launch['world_size']}, device {launch['device']}"
        + (f", backend {launch['backend']}, MASTER_ADDR={launch['master_addr']} MASTER_PORT={launch['master_port']}, "
           f"timeout {report['timeout_s']:g} s" if launch["backend"] else ""),
    ]  # fmt: skip
    if env["variables"]:
        lines.append("  variables    " + " ".join(f"{name}={value}" for name, value in env["variables"].items()))
    if "note" in report:
        lines += ["", report["note"]]
        return "\n".join(lines)
    lines += ["", "ranks"]
    lines += [f"  {r['rank']}  {r['host']}  pid {r['pid']}  {r['device']} ({r['device_name']})" for r in report["ranks"]]
    repeats = report["collectives"][0]["repeats"] if report["collectives"] else 0
    lines += [
        "",
        f"collectives (size per rank; time = each rank's median of {repeats}, then min/median/max over ranks)",
        f"  {'collective':<11} {'size':>6}  {'min ms':>9}  {'median ms':>9}  {'max ms':>9}  {'bus GB/s':>8}  result",
    ]
    for c in report["collectives"]:
        result = "ok" if c["ok"] else f"WRONG on rank(s) {', '.join(map(str, c['failed_ranks']))}"
        lines.append(
            f"  {c['collective']:<11} {human_size(c['size_bytes']):>6}  {1e3 * c['seconds_min']:9.3f}  "
            f"{1e3 * c['seconds_median']:9.3f}  {1e3 * c['seconds_max']:9.3f}  {c['bus_gbps']:8.3f}  {result}"
        )
    soak = report.get("soak")
    if soak:
        status = "ok" if soak["ok"] else f"WRONG on rank(s) {', '.join(map(str, soak['failed_ranks']))}"
        lines.append(f"  soak: {soak['iterations']} all_reduce of 1 MB in {soak['seconds']:.1f} s, {status}")
    passed = sum(c["ok"] for c in report["collectives"])
    lines += ["", f"{passed} of {len(report['collectives'])} checks passed on {launch['world_size']} ranks"]
    return "\n".join(lines)
