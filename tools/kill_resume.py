"""Exact resume under SIGKILL: kill `reidkit train` / `reidkit adapt` at random moments, resume,
and check that the result is exactly the uninterrupted one and that no checkpoint is ever corrupt.

Per scenario (supervised, SpCL UDA, MMT UDA on the tiny preset, with their source-model
pre-training stages, and an SPGAN translation with its rendering), one uninterrupted reference run
records a trace of timestamped events: checkpoint restore, pseudo-labelling (feature extraction +
clustering), each training step, each evaluation (a translation's preview grid), the rendering
after a translation's last epoch, and every stage of a checkpoint save (serialising, staging the data file, writing the
checksum, renaming, publishing best.pt, `latest`, pruning). Each trial then draws (from a seeded
RNG) its kill moments: an event of the reference trace and a delay within that event's duration,
cycling over the event kinds so that every kind is hit. It runs the command, SIGKILLs it at the
first moment, checks the checksum of every checkpoint file on disk, runs the same command again to
resume, and so on until a run finishes. It then requires every metrics.json (the adaptation's and
its pre-training stages') to equal the reference's, and the final checkpoint of every stage to be
byte-identical to the reference's (model, optimiser, memory, sampler, schedule: the whole state),
and every rendered image and manifest of a translation byte-identical to the reference's.

Children are forked from this process after it has imported torch (no torch op runs here before a
fork), which saves the seconds of imports per run; `--exec` starts each run as a fresh interpreter
instead. The events are traced through the App hook of `reidkit.entrypoints.cli.main`: an observer
added to each run's observers and tracing checkpoint files put in place of the plain ones, both
through the run's container; nothing in the library is patched.

    .venv/bin/python tools/kill_resume.py                  # 4 trials x 3 kills per scenario (the full check)
    .venv/bin/python tools/kill_resume.py --scenarios spcl --trials 2 --kills 2 --keep /tmp/kr

Exit code 0 when every trial resumed exactly, 1 otherwise; --json writes every kill and result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIOS = ("supervised", "spcl", "mmt", "translate")
KINDS = ("restore", "prepare", "step", "evaluate", "checkpoint", "render")


# -- scenarios --------------------------------------------------------------------------------


def tiny(data_dir: Path, *extra: str) -> list[str]:
    """--set overrides for the tiny preset (the same sizes as the e2e tests use)."""
    items = [
        "data.preset='tiny'", f"data.cache_dir='{data_dir}'", "input.height=64", "input.width=32",
        "train.ids_per_batch=4", "train.instances_per_id=2", "train.iters_per_epoch=2",
        "eval.batch_size=64", "train.eval_every=1", "runtime.threads=1", *extra,
    ]  # fmt: skip
    return [arg for item in items for arg in ("--set", item)]


def pretrain_profile(folder: Path) -> Path:
    """A one-epoch supervised source model sized for the tiny preset (the adaptations' stage 1),
    run as written (``embedded_scale = "off"``: the tiny scale would train it longer)."""
    path = folder / "tiny_pretrain.toml"
    path.write_text(
        'method = "supervised"\nembedded_scale = "off"\n[input]\nheight = 64\nwidth = 32\npad = 6\n'
        '[model]\nbackbone = "resnet18"\nlast_stride = 2\n'
        "[train]\ndomain = 'source'\nepochs = 1\niters_per_epoch = 2\nids_per_batch = 4\ninstances_per_id = 2\n"
        "[eval]\ndomains = ['source']\n"
    )
    return path


def scenario_argv(name: str, data_dir: Path, folder: Path) -> list[str]:
    """The reidkit command of a scenario, without --work-dir."""
    if name == "supervised":
        return ["train", "--profile", "strong_baseline", *tiny(data_dir, "train.epochs=3", "eval.domains=['source', 'target']")]
    adapt = [f"adapt.pretrain_profile='{pretrain_profile(folder)}'", "train.domain='target'", "eval.domains=['target']"]
    if name == "spcl":  # the hybrid memory (source centroids + every target instance) must survive
        labels = ["pseudo_labeler.kind='dbscan'", "pseudo_labeler.k1=10", "pseudo_labeler.use_outliers=true",
                  "refine.kind='self_paced'", "adapt.start_from='source_model'"]  # fmt: skip
        return ["adapt", "--profile", "spcl_uda", *tiny(data_dir, "train.epochs=2", *adapt, *labels)]
    if name == "mmt":  # two students, two mean teachers, a second source model, Adam re-created per epoch
        labels = ["pseudo_labeler.kind='kmeans'", "pseudo_labeler.num_clusters=8"]
        return ["adapt", "--profile", "mmt_uda", *tiny(data_dir, "train.epochs=2", *adapt, *labels)]
    if name == "translate":  # SPGAN: three optimisers, two image pools, the metric from epoch 2, the rendering
        sizes = ["input.height=64", "input.width=64", "translate.batch_size=2"]
        return ["translate", "--profile", "spgan", *tiny(data_dir, "train.epochs=3", *sizes)]
    raise SystemExit(f"kill_resume: unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")


# -- the child: the CLI with a tracing hook ---------------------------------------------------


def child_main(argv: Sequence[str], trace: Path) -> int:
    """Runs ``reidkit argv`` with every App traced: ``time<TAB>kind<TAB>key`` lines in ``trace``,
    one at the start of each window a kill may land in."""
    work_dir = Path(argv[list(argv).index("--work-dir") + 1]).resolve()
    fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def emit(kind: str, key: str) -> None:
        os.write(fd, f"{time.monotonic():.6f}\t{kind}\t{key}\n".encode())

    from reidkit.entrypoints.cli import main

    code = main(list(argv), hook=lambda app: trace_app(app, emit, work_dir))
    emit("exit", str(code))
    return code


def trace_app(app: Any, emit: Callable[[str, str], None], work_dir: Path) -> None:
    """The App hook: a tracing observer added to the run's observers and tracing checkpoint files
    in place of the plain ones, both through the container (nothing in the library is patched)."""
    from dependency_injector import providers

    tag = os.path.relpath(app.run_dir.resolve(), work_dir)
    where = {"at": "restore"}  # which epoch's save (or the restore) a file operation belongs to
    emit("restore", tag)  # building the run and restoring its checkpoint, until training starts
    profile = app.profile
    observer = TraceObserver(
        emit, tag, where, prepares=profile.method not in ("supervised", "translate"), renders=profile.method == "translate",
        domains=profile.eval.domains,
    )
    app.container.training.observers.add_args(providers.Object(observer))
    app.container.training.checkpoint_files.override(providers.Object(tracing_files(emit, tag, where)))


class TraceObserver:
    """Marks where each window starts: pseudo-labelling, each step, each evaluation, the save."""

    def __init__(
        self, emit: Callable[[str, str], None], tag: str, where: dict, *, prepares: bool, renders: bool = False,
        domains: Sequence[str],
    ) -> None:
        self._emit, self._tag, self._where = emit, tag, where
        self._prepares, self._renders, self._domains = prepares, renders, list(domains)
        self._steps = 0

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        self._steps = steps_per_epoch

    def on_epoch_start(self, epoch: int) -> None:
        if self._prepares:
            self._emit("prepare", f"{self._tag} e{epoch + 1}")
        else:
            self._emit("step", f"{self._tag} e{epoch + 1} s0")

    def on_pseudo_labels(self, epoch: int, labels: Any, quality: Any) -> None:
        self._emit("step", f"{self._tag} e{epoch + 1} s0")  # the consumers' reset, then the first step

    def on_step(self, epoch: int, step: int, report: Any) -> None:
        if step + 1 < self._steps:
            self._emit("step", f"{self._tag} e{epoch + 1} s{step + 1}")

    def on_epoch_end(self, epoch: int) -> None:
        # every scenario evaluates after every epoch (train.eval_every = 1)
        self._where["at"] = f"e{epoch + 1}"
        self._emit("evaluate", f"{self._tag} e{epoch + 1} {self._domains[0]}")

    def on_evaluation(self, epoch: int, name: str, metrics: Any) -> None:
        index = self._domains.index(name) + 1
        if index < len(self._domains):
            self._emit("evaluate", f"{self._tag} e{epoch + 1} {self._domains[index]}")
        else:
            self._emit("checkpoint", f"{self._tag} e{epoch + 1} serialise")

    def on_run_end(self, progress: Any) -> None:
        # a translation renders the source after its loop (until the run exits)
        self._emit("render" if self._renders else "loop-end", self._tag)


def tracing_files(emit: Callable[[str, str], None], tag: str, where: dict) -> Any:
    """AtomicFiles that mark each file operation of a save (or of a restore finishing one)."""
    from reidkit.adapters.runtime.checkpoint import AtomicFiles

    class TracingFiles(AtomicFiles):
        def _mark(self, label: str, path: Path) -> None:
            emit("checkpoint", f"{tag} {where['at']} {label} {Path(path).name}")

        def write(self, path: Path, data: bytes) -> None:
            self._mark("write", path)
            super().write(path, data)

        def stage(self, path: Path, data: bytes) -> Path:
            self._mark("stage", path)
            return super().stage(path, data)

        def link(self, source: Path, target: Path) -> Path:
            self._mark("link", target)
            return super().link(source, target)

        def install(self, staged: Path, path: Path, digest: str) -> None:
            self._mark("install", path)
            super().install(staged, path, digest)

        def remove(self, path: Path) -> None:
            self._mark("remove", path)
            super().remove(path)

    return TracingFiles()


# -- the parent: runs, kills, checks ----------------------------------------------------------


@dataclass(frozen=True)
class Event:
    time: float
    kind: str
    key: str


@dataclass(frozen=True)
class Target:
    """Kill ``delay`` seconds after the event ``kind key`` (which the reference run also had)."""

    kind: str
    key: str
    delay: float


@dataclass
class Trial:
    scenario: str
    index: int
    targets: list[Target]
    kills: list[dict] = field(default_factory=list)
    missed: int = 0
    runs: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def read_trace(path: Path) -> list[Event]:
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 3:  # a line being written is read again on the next poll
            events.append(Event(float(fields[0]), fields[1], fields[2]))
    return events


class Runner:
    """Starts one reidkit run (forked from this process, or a fresh interpreter with --exec)."""

    def __init__(self, fresh_interpreter: bool) -> None:
        self._exec = fresh_interpreter
        if not fresh_interpreter:
            # Import (never run) torch and the whole CLI once, so every fork starts warm.
            import reidkit.entrypoints.cli  # noqa: F401
            from reidkit.entrypoints.methods import method_names, method_spec

            for name in method_names():
                method_spec(name).container()  # a method's container brings torch with it

    def call(self, function: Callable[[Path], str], path: Path) -> str:
        """``function(path)``, in a forked child unless runs are fresh interpreters: this process
        runs no torch op, so its forks never inherit a started OpenMP pool."""
        if self._exec:
            return function(path)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            code = 1
            try:
                os.write(write, function(path).encode())
                code = 0
            except BaseException:  # noqa: BLE001 - reported by the parent as a failed call
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as pipe:
            result = pipe.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{function.__name__}({path}) failed")
        return result

    def start(self, argv: Sequence[str], trace: Path, log: Path) -> int:
        if self._exec:
            with log.open("w") as out:
                command = [sys.executable, str(Path(__file__).resolve()), "--child", str(trace), "--", *argv]
                return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT).pid
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 70
        try:
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            code = child_main(argv, trace)
        except BaseException:  # noqa: BLE001 - report anything, then leave without running parent code
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def run_until(
    runner: Runner, argv: Sequence[str], trace: Path, log: Path, target: Target | None
) -> tuple[int | None, dict | None]:
    """Runs once; SIGKILLs it ``target.delay`` after the target event. Returns (exit code or
    None when killed, the kill record)."""
    seen = len(read_trace(trace))
    pid = runner.start(argv, trace, log)
    deadline = None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), None
        if target is not None and deadline is None:
            for event in read_trace(trace)[seen:]:
                if (event.kind, event.key) == (target.kind, target.key):
                    deadline = event.time + target.delay
                    break
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            os.waitpid(pid, 0)
            after = [e for e in read_trace(trace)[seen:] if e.time <= killed_at]
            landed = f"{after[-1].kind} {after[-1].key}" if after else "start-up"
            return None, {"target": f"{target.kind} {target.key} +{target.delay:.3f}s", "landed_in": landed}
        time.sleep(0.002)


class ChecksumCache:
    """Verifies every ``*.pt`` in the checkpoint folders of a run against its checksum file,
    hashing each distinct file version once."""

    def __init__(self) -> None:
        self._digests: dict[tuple, str] = {}

    def problems(self, work_dir: Path) -> list[str]:
        found = []
        for path in sorted(work_dir.rglob("checkpoints/*.pt")):
            sidecar = path.with_name(path.name + ".sha256")
            try:
                recorded = sidecar.read_text().split()[0]
            except (OSError, IndexError):
                found.append(f"{path} has no checksum")
                continue
            if self._digest(path) != recorded:
                found.append(f"{path} fails its checksum")
        return found

    def _digest(self, path: Path) -> str:
        stat = path.stat()
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            with path.open("rb") as handle:
                self._digests[key] = hashlib.file_digest(handle, "sha256").hexdigest()
        return self._digests[key]


def content_digest(path: Path) -> str:
    """A digest of what a checkpoint holds (every tensor's dtype, shape and bytes, every value):
    torch.save's bytes differ between two saves of the same state (a random serialisation id)."""
    import torch

    from reidkit.adapters.runtime.checkpoint import read_checkpoint

    digest = hashlib.sha256()

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            digest.update(f"tensor {value.dtype} {tuple(value.shape)}".encode())
            digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key, item in value.items():
                digest.update(f"key {key!r}".encode())
                walk(item)
        elif isinstance(value, (list, tuple)):
            digest.update(f"seq {len(value)}".encode())
            for item in value:
                walk(item)
        else:
            digest.update(f"value {value!r}".encode())

    payload = read_checkpoint(path)
    walk({"progress": payload["progress"], "components": payload["components"]})
    return digest.hexdigest()


def final_state(runner: Runner, work_dir: Path) -> dict[str, Any]:
    """Every stage's metrics.json, the content of its newest checkpoint, and the bytes of every
    file a translation rendered (its translated/ folder, manifest included)."""
    state: dict[str, Any] = {}
    for pointer in sorted(work_dir.rglob("checkpoints/latest")):
        folder = pointer.parent.parent
        stage = os.path.relpath(folder, work_dir)
        if (folder / "metrics.json").is_file():
            state[f"{stage}/metrics.json"] = json.loads((folder / "metrics.json").read_text())
        latest = pointer.read_text().strip()
        state[f"{stage}/checkpoints/{latest}"] = runner.call(content_digest, folder / "checkpoints" / latest)
        for rendered in sorted((folder / "translated").rglob("*")) if (folder / "translated").is_dir() else ():
            if rendered.is_file():
                state[os.path.relpath(rendered, work_dir)] = hashlib.sha256(rendered.read_bytes()).hexdigest()
    return state


def first_save_seconds(reference: list[Event], stage: str) -> float:
    """How long the first save of ``stage`` took in the reference run: about what reading it
    back takes."""
    saving = [i for i, e in enumerate(reference) if e.kind == "checkpoint" and e.key.startswith(f"{stage} e")]
    if not saving:
        return 0.0
    end = next((i for i in range(saving[0], len(reference)) if reference[i].kind != "checkpoint"), len(reference) - 1)
    return reference[end].time - reference[saving[0]].time


def draw_targets(reference: list[Event], kinds: Sequence[str], rng: random.Random) -> list[Target]:
    """For each kind, a random event of that kind in the reference run and a delay within it;
    returned in the order the run meets them, restores last (every run restores, and the restore
    of a run after a kill has checkpoints to load and maybe an interrupted save to finish)."""
    order = {}
    targets = []
    for kind in kinds:
        index = rng.choice([i for i, e in enumerate(reference) if e.kind == kind])
        event = reference[index]
        following = reference[index + 1].time if index + 1 < len(reference) else event.time
        span = following - event.time
        if kind == "restore":  # the reference restored nothing; a resumed run reads a save back
            span = max(span, first_save_seconds(reference, event.key))
        target = Target(kind, event.key, rng.uniform(0.0, max(span, 0.001)))
        order[target] = index
        targets.append(target)
    return sorted(targets, key=lambda t: (t.kind == "restore", order[t]))


def run_trial(
    runner: Runner, argv: list[str], trial: Trial, folder: Path, reference: dict, checksums: ChecksumCache
) -> None:
    work_dir = folder / f"{trial.scenario}-{trial.index}"
    command = [*argv, "--work-dir", str(work_dir)]
    trace, started = folder / f"{trial.scenario}-{trial.index}.trace", time.perf_counter()
    pending = list(trial.targets)
    while True:
        trial.runs += 1
        log = folder / f"{trial.scenario}-{trial.index}.run{trial.runs}.log"
        code, kill = run_until(runner, command, trace, log, pending[0] if pending else None)
        if kill is not None:
            pending.pop(0)
            trial.kills.append(kill)
            trial.problems += [f"after kill {len(trial.kills)}: {p}" for p in checksums.problems(work_dir)]
            continue
        if code != 0:
            output = log.read_text()[-800:]
            trial.problems.append(f"run {trial.runs} exited with code {code}; its output ends with:\n{output}")
            break
        trial.missed = len(pending)
        trial.problems += checksums.problems(work_dir)
        got = final_state(runner, work_dir)
        for name in sorted(set(reference) | set(got)):
            if got.get(name) != reference.get(name):
                trial.problems.append(f"{name} differs from the uninterrupted run")
        break
    trial.seconds = time.perf_counter() - started


def reference_run(runner: Runner, argv: list[str], folder: Path) -> tuple[list[Event], dict[str, Any]]:
    """The uninterrupted run: its trace (where kills are drawn from) and its final state."""
    trace, log = folder / "reference.trace", folder / "reference.log"
    trace.unlink(missing_ok=True)
    code, _ = run_until(runner, [*argv, "--work-dir", str(folder / "reference")], trace, log, None)
    if code != 0:
        raise SystemExit(f"kill_resume: the reference run failed with code {code}; see {log}")
    return read_trace(trace), final_state(runner, folder / "reference")


class KindCycle:
    """The kinds of moment in a seeded order, one cycle for the whole session, so that a few
    kills cover them all (a scenario without a kind, e.g. supervised: prepare, skips it)."""

    def __init__(self, seed: int) -> None:
        self._order = list(KINDS)
        random.Random(seed).shuffle(self._order)
        self._drawn = 0

    def take(self, count: int, present: set[str]) -> list[str]:
        kinds: list[str] = []
        while len(kinds) < count:
            kind = self._order[self._drawn % len(self._order)]
            self._drawn += 1
            kinds += [kind] if kind in present else []
        return kinds


def report(trial: Trial) -> None:
    verdict = "exact" if not trial.problems else "FAILED"
    landed = "; ".join(kill["landed_in"] for kill in trial.kills)
    print(f"  trial {trial.index}: {verdict}, {len(trial.kills)} kill(s) [{landed}], {trial.missed} missed, "
          f"{trial.runs} run(s), {trial.seconds:.1f} s", flush=True)  # fmt: skip
    for problem in trial.problems:
        print("    " + problem.replace("\n", "\n    "))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--trials", type=int, default=4, help="trials per scenario (default 4: 12 in all)")
    parser.add_argument("--kills", type=int, default=3, help="kills per trial (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--data-dir", type=Path, help="cache folder of the tiny preset (generated when absent)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep every run (default: a temporary one)")
    parser.add_argument("--exec", action="store_true", help="start every run as a fresh interpreter (slower)")
    parser.add_argument("--json", type=Path, help="write every trial's kills and problems here")
    args = parser.parse_args(argv)
    names = [n for n in args.scenarios.split(",") if n]
    if unknown := sorted(set(names) - set(SCENARIOS)):
        parser.error(f"unknown scenario(s) {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
    if args.trials < 1 or args.kills < 1:
        parser.error("--trials and --kills must be >= 1")

    root = args.keep or Path(tempfile.mkdtemp(prefix="kill_resume-"))
    root.mkdir(parents=True, exist_ok=True)
    data_dir = args.data_dir or root / "data"
    runner = Runner(fresh_interpreter=args.exec)
    if args.data_dir is None:  # in a child: its process pool has no business in the forking parent
        synth = ["data", "synth", "--preset", "tiny", "--out", str(data_dir)]
        subprocess.run([str(Path(sys.executable).with_name("reidkit")), *synth], check=True, capture_output=True)
    trials: list[Trial] = []
    kinds = KindCycle(args.seed)
    try:
        for name in names:
            folder = root / name
            folder.mkdir(exist_ok=True)
            command = scenario_argv(name, data_dir, folder)
            started = time.perf_counter()
            events, reference = reference_run(runner, command, folder)
            print(f"{name}: reference run {time.perf_counter() - started:.1f} s, {len(events)} events", flush=True)
            checksums = ChecksumCache()
            for index in range(args.trials):
                plan = kinds.take(args.kills, {e.kind for e in events})
                trial = Trial(name, index, draw_targets(events, plan, random.Random(f"{args.seed}:{name}:{index}")))
                run_trial(runner, command, trial, folder, reference, checksums)
                trials.append(trial)
                report(trial)
                if args.keep is None and not trial.problems:  # a few GB of checkpoints per scenario
                    shutil.rmtree(folder / f"{name}-{index}", ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    failed = [t for t in trials if t.problems]
    kills = sum(len(t.kills) for t in trials)
    print(f"{len(trials)} trial(s), {kills} kill(s): {len(trials) - len(failed)} exact, {len(failed)} failed")
    if args.json:
        records = [t.__dict__ | {"targets": [target.__dict__ for target in t.targets]} for t in trials]
        args.json.write_text(json.dumps(records, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        raise SystemExit(child_main(sys.argv[4:] if sys.argv[3] == "--" else sys.argv[3:], Path(sys.argv[2])))
    raise SystemExit(main())
