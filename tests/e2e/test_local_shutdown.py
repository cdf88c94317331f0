"""`python -m localcloud up` stops cleanly however it is stopped: every process it started ends,
nothing is left listening, and the state is saved when it can be.

Each case starts a whole local cloud as a subprocess (fresh state, free ports), as `make local`
does, and watches its process tree from /proc while it runs: every descendant's pid and every
port one of them listens on is recorded, then checked once the cloud has gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
UP_DEADLINE_S = 600.0  # building every bundle and provisioning, on a loaded 2-core machine
STOP_DEADLINE_S = 120.0
SNAPSHOT = Path("snapshot") / "snapshot.json"


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2 :].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = children_of(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def listen_sockets() -> dict[str, int]:
    """Every TCP socket in LISTEN state: its fd link target (`socket:[inode]`) -> its port."""
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                sockets[f"socket:[{fields[9]}]"] = int(fields[1].rsplit(":", 1)[1], 16)
    return sockets


def socket_links(pid: int) -> set[str]:
    """The fd link targets of the process (`socket:[inode]` for its sockets); empty once it is gone."""
    try:
        return {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        return set()


def listening_ports(pids: set[int]) -> set[int]:
    """TCP ports in LISTEN state on a socket one of `pids` holds."""
    sockets = listen_sockets()
    return {sockets[link] for pid in pids for link in socket_links(pid) if link in sockets}


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status.lower()


@dataclass
class Watch:
    """What the cloud's process tree held at any time while it ran."""

    pids: set[int] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    def sample(self, root: int) -> None:
        current = descendants(root)
        self.pids |= current
        self.ports |= listening_ports(current | {root})


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    state_dir: Path
    watch: Watch
    reader: subprocess.Popen[bytes] | None = None

    def endpoints(self) -> dict[str, object]:
        return dict(json.loads((self.state_dir / "endpoints.json").read_text()))

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + UP_DEADLINE_S
        while not (self.state_dir / "endpoints.json").is_file():
            assert self.process.poll() is None, f"the local cloud exited early: {self.stderr()}"
            assert time.monotonic() < deadline, "the local cloud did not come up in time"
            self.watch.sample(self.process.pid)
            time.sleep(0.5)
        self.watch.sample(self.process.pid)

    def wait_for_exit(self) -> int:
        deadline = time.monotonic() + STOP_DEADLINE_S
        while self.process.poll() is None:
            assert time.monotonic() < deadline, "the local cloud did not stop in time"
            self.watch.sample(self.process.pid)
            time.sleep(0.2)
        return int(self.process.returncode)

    def stderr(self) -> str:
        log = self.state_dir.parent / "stderr.log"
        return log.read_text()[-3000:] if log.is_file() else ""


def start(cdk_out: Path, root: Path, *, pipe_to: list[str] | None = None) -> Run:
    """`localcloud up` on a fresh state dir; function bundles come from the machine's shared cache."""
    state_dir = root / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "localcloud", "up", "--fresh", "--port", "0",
        "--state-dir", str(state_dir), "--cdk-out", str(cdk_out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'functions'}"}
    stderr = (root / "stderr.log").open("wb")
    stdout_file = (root / "stdout.log").open("wb")
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if pipe_to else stdout_file,
        stderr=stderr,
        process_group=0,  # its own process group, as a shell makes for a pipeline
    )
    reader = None
    if pipe_to:
        # The pipeline `python -m localcloud up | tee stdout.log`: one process group, as a shell makes it.
        try:
            reader = subprocess.Popen(
                pipe_to, stdin=process.stdout, stdout=stdout_file, process_group=process.pid
            )
        except BaseException:
            process.kill()
            raise
        assert process.stdout is not None
        process.stdout.close()
    stderr.close()
    stdout_file.close()
    return Run(process, state_dir, Watch(), reader)


def start_a_worker(run: Run) -> None:
    endpoints = run.endpoints()
    request = urllib.request.Request(
        f"{endpoints['api_url']}/health", headers={"x-api-key": str(endpoints["api_key"] or "")}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
    run.watch.sample(run.process.pid)


def assert_everything_stopped(run: Run) -> None:
    deadline = time.monotonic() + 30
    survivors = {pid for pid in run.watch.pids if alive(pid)}
    while survivors and time.monotonic() < deadline:
        time.sleep(0.2)
        survivors = {pid for pid in survivors if alive(pid)}
    assert not survivors, f"processes left running: {survivors}"
    assert run.watch.ports, "no listening port was seen while the cloud ran"
    for port in run.watch.ports:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                continue
        # Something listens there again: a process of this run, or another test's (parallel test
        # workers start local clouds too, and the kernel may hand a freed port to one of them).
        holders = listeners(port)
        ours = {pid for pid in holders if mentions(pid, run.state_dir)}
        assert holders and not ours, f"port {port} still listening (processes {holders}, of this run {ours})"


def listeners(port: int) -> set[int]:
    """The processes holding a TCP socket that listens on `port`."""
    links = {link for link, listening in listen_sockets().items() if listening == port}
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return {pid for pid in pids if socket_links(pid) & links}


def mentions(pid: int, state_dir: Path) -> bool:
    """Whether the process's command line or environment names the run's state dir, as moto's
    (its TLS files) and the function workers' (AWS_CA_BUNDLE) do."""
    needle = str(state_dir).encode()
    for name in ("cmdline", "environ"):
        try:
            if needle in Path(f"/proc/{pid}/{name}").read_bytes():
                return True
        except OSError:
            continue
    return False


def sigint_to_the_pipeline(run: Run) -> None:
    os.killpg(run.process.pid, signal.SIGINT)  # Ctrl-C: the cloud and tee both get it


def signal_the_cloud(number: int) -> Callable[[Run], None]:
    return lambda run: run.process.send_signal(number)


def close_its_stdout(run: Run) -> None:
    assert run.reader is not None
    run.reader.kill()  # the reader of its stdout goes away; no signal reaches the cloud


ORDERLY = [
    pytest.param(sigint_to_the_pipeline, ["tee"], id="ctrl-c-under-tee"),
    pytest.param(signal_the_cloud(signal.SIGTERM), None, id="sigterm"),
    pytest.param(signal_the_cloud(signal.SIGHUP), None, id="sighup"),
    pytest.param(close_its_stdout, ["cat"], id="stdout-closed"),
]


@pytest.mark.parametrize(("stop", "pipe_to"), ORDERLY)
def test_an_orderly_stop_saves_the_state_and_leaves_nothing_behind(
    cloud_assembly: Path,
    tmp_path: Path,
    stop: Callable[[Run], None],
    pipe_to: list[str] | None,
) -> None:
    run = start(cloud_assembly, tmp_path, pipe_to=pipe_to)
    try:
        run.wait_until_up()
        start_a_worker(run)
        stop(run)
        assert run.wait_for_exit() == 0, run.stderr()
    finally:
        if run.process.poll() is None:
            run.process.kill()
    assert_everything_stopped(run)
    assert (run.state_dir / SNAPSHOT).is_file(), "no snapshot was saved"
    assert not (run.state_dir / "endpoints.json").exists()
    assert "Traceback" not in run.stderr()
    if pipe_to == ["tee"]:
        assert "local cloud is up" in (tmp_path / "stdout.log").read_text()


def test_when_the_cloud_is_killed_its_guardian_stops_every_child(
    cloud_assembly: Path, tmp_path: Path
) -> None:
    run = start(cloud_assembly, tmp_path)
    try:
        run.wait_until_up()
        start_a_worker(run)
        run.process.kill()  # SIGKILL: no handler, no finally, no atexit
        assert run.wait_for_exit() == -signal.SIGKILL
    finally:
        if run.process.poll() is None:
            run.process.kill()
    assert_everything_stopped(run)


def broken_assembly(cloud_assembly: Path, root: Path) -> Path:
    """The assembly with one resource in the last stack to deploy that cannot be provisioned, so
    moto has started and every earlier stack has been provisioned when it fails."""
    from localcloud.template import load_assembly

    broken = root / "cdk.out"
    shutil.copytree(cloud_assembly, broken, copy_function=os.link)
    last = load_assembly(broken)[-1].path
    template = json.loads(last.read_text())
    template["Resources"]["ZzUnprovisionable"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": {"Ref": "NothingIsCalledThis"}},
    }
    last.unlink()  # a hard link to the original: write a new file instead
    last.write_text(json.dumps(template))
    return broken


def test_a_failure_while_provisioning_stops_what_had_started(
    cloud_assembly: Path, tmp_path: Path
) -> None:
    run = start(broken_assembly(cloud_assembly, tmp_path), tmp_path)
    try:
        assert run.wait_for_exit() == 1, run.stderr()
    finally:
        if run.process.poll() is None:
            run.process.kill()
    assert "NothingIsCalledThis" in (tmp_path / "stdout.log").read_text()
    assert run.watch.pids, "nothing had started: the failure came too early to prove anything"
    assert_everything_stopped(run)
    assert not (run.state_dir / SNAPSHOT).exists()
