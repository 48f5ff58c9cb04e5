"""`dosewise up`'s supervisor (dosewise.devstack.Supervisor): which service is restarted, when, and what the console says,
driven by a fake clock over fake processes (tests/e2e/test_dosewise_up.py runs the real thing)."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import cast

import pytest

from dosewise.devstack import Backoff, LocalStack, Supervisor, describe_exit

SERVICES = ("inference", "api", "trainer")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@dataclass
class FakeProc:
    """What the supervisor uses of a ``Popen``: its pid and ``poll()``."""

    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeStack(LocalStack):
    """A LocalStack whose processes are FakeProcs (its start/restart bookkeeping is the real one)."""

    spawned: list[tuple[str, int]] = field(default_factory=list)
    spawn_errors: list[OSError] = field(default_factory=list)  # raised by the next spawns, in order

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        if self.spawn_errors:
            raise self.spawn_errors.pop(0)
        proc = FakeProc(pid=100 + len(self.spawned))
        self.procs[name], self.commands[name] = cast(subprocess.Popen[bytes], proc), cmd
        self.spawned.append((name, proc.pid))
        return cast(subprocess.Popen[bytes], proc)

    def kill(self, name: str, code: int = -signal.SIGKILL) -> None:
        cast(FakeProc, self.procs[name]).returncode = code


def supervised(backoff: Backoff | None = None) -> tuple[Supervisor, FakeStack, Clock, list[str]]:
    stack, clock, said = FakeStack(env={}), Clock(), []
    sup = Supervisor(stack, SERVICES, backoff or Backoff(), clock=clock, sleep=clock.sleep, say=said.append)
    sup.start_all()
    said.clear()
    return sup, stack, clock, said


def run_for(sup: Supervisor, clock: Clock, seconds: float, step_s: float = 0.1) -> None:
    end = clock.now + seconds
    while clock.now < end - 1e-9:
        sup.step()
        clock.sleep(step_s)


def crash_right_after_start(sup: Supervisor, stack: FakeStack, clock: Clock, name: str, n: int) -> list[float]:
    """Kill ``name`` as soon as each restart has happened, ``n`` times; how long it stayed down each time (it is checked
    still down 10 ms before that)."""
    delays = []
    for _ in range(n):
        stack.kill(name, code=1)
        sup.step()
        down_at, starts = clock.now, len(stack.spawned)
        due = sup.services[name].restart_at
        assert due is not None
        clock.now = due - 0.01
        sup.step()
        assert len(stack.spawned) == starts, "restarted early"
        clock.now = due
        sup.step()
        assert len(stack.spawned) == starts + 1, "not restarted when due"
        delays.append(round(clock.now - down_at, 6))
    return delays


class TestBackoff:
    def test_the_delay_starts_at_half_a_second_and_doubles_up_to_30_s(self) -> None:
        b = Backoff()
        assert [b.delay(n) for n in range(1, 10)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]

    def test_hours_of_crash_loop_stay_at_the_cap_without_overflowing(self) -> None:
        assert Backoff().delay(100_000) == 30.0  # 0.5 · 2**99_999 would overflow a float

    @pytest.mark.parametrize("bad", [dict(first_s=0), dict(first_s=40), dict(factor=0.5), dict(stable_s=0),
                                     dict(crash_loop_after=0)])
    def test_an_inconsistent_policy_is_refused(self, bad: dict[str, float]) -> None:
        with pytest.raises(ValueError, match="inconsistent backoff"):
            Backoff(**bad)


class TestRestart:
    def test_start_all_names_each_service_and_its_pid(self) -> None:
        stack, said = FakeStack(env={}), []
        Supervisor(stack, SERVICES, say=said.append).start_all()
        assert said == ["inference started (pid 100)", "api started (pid 101)", "trainer started (pid 102)"]

    def test_a_killed_service_is_said_and_restarted_after_the_first_delay(self) -> None:
        sup, stack, clock, said = supervised()
        clock.sleep(12.0)
        stack.kill("inference")
        sup.step()
        assert said == ["inference exited with signal SIGKILL after 12 s up; restarting in 0.5 s (restart 1)"]
        run_for(sup, clock, 0.4)
        assert stack.procs["inference"].pid == 100, "restarted before its delay was over"
        run_for(sup, clock, 0.2)
        assert stack.procs["inference"].pid == 103 and stack.procs["inference"].poll() is None
        assert said[1:] == ["inference restarted (pid 103, restart 1)"]
        assert sup.services["inference"].restarts == 1

    def test_a_long_uptime_is_said_in_hours_and_minutes(self) -> None:
        sup, stack, clock, said = supervised()
        clock.sleep(3 * 3600 + 5 * 60 + 7)
        stack.kill("trainer", code=-signal.SIGSEGV)
        sup.step()
        assert said == ["trainer exited with signal SIGSEGV after 3 h 5 min up; restarting in 0.5 s (restart 1)"]

    def test_the_restart_reuses_the_command_the_service_was_started_with(self) -> None:
        sup, stack, clock, _ = supervised()
        before = list(stack.commands["inference"])
        stack.kill("inference")
        run_for(sup, clock, 1.0)
        assert stack.commands["inference"] == before == [sys.executable, "-m", "dosewise_inference"]

    def test_the_other_services_are_left_alone(self) -> None:
        sup, stack, clock, said = supervised()
        stack.kill("inference")
        run_for(sup, clock, 5.0)
        assert [n for n, _ in stack.spawned] == [*SERVICES, "inference"]
        assert stack.procs["api"].pid == 101 and stack.procs["trainer"].pid == 102
        assert not [m for m in said if not m.startswith("inference ")]

    def test_a_clean_exit_is_restarted_too_since_a_service_is_meant_to_run_until_stopped(self) -> None:
        sup, stack, clock, said = supervised()
        stack.kill("trainer", code=0)
        run_for(sup, clock, 1.0)
        assert said[0].startswith("trainer exited with code 0 after ") and said[1] == "trainer restarted (pid 103, restart 1)"

    def test_two_services_down_at_once_are_each_restarted(self) -> None:
        sup, stack, clock, _ = supervised()
        stack.kill("inference")
        stack.kill("api", code=-signal.SIGSEGV)
        run_for(sup, clock, 1.0)
        assert sorted(n for n, _ in stack.spawned[3:]) == ["api", "inference"]
        assert all(p.poll() is None for p in stack.procs.values())


class TestCrashLoop:
    def test_rapid_exits_double_the_delay_up_to_the_cap_and_it_keeps_trying_there(self) -> None:
        sup, stack, clock, _ = supervised()
        delays = crash_right_after_start(sup, stack, clock, "inference", 10)
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
        assert sup.services["inference"].restarts == 10

    def test_the_crash_loop_is_said_once_per_streak(self) -> None:
        sup, stack, clock, said = supervised()
        crash_right_after_start(sup, stack, clock, "inference", 8)
        loops = [m for m in said if "crash-looping" in m]
        assert loops == ["inference is crash-looping (5 exits in a row, each within 60 s of starting; its own output "
                         "above says why): restarting it every 30 s until it stays up; Ctrl-C stops everything"]
        assert said.index(loops[0]) == said.index("inference exited with code 1 after 0.0 s up; restarting in 8.0 s "
                                                  "(restart 5)") + 1

    def test_a_service_that_stayed_up_long_enough_starts_again_at_the_first_delay(self) -> None:
        sup, stack, clock, said = supervised()
        crash_right_after_start(sup, stack, clock, "inference", 6)  # the next delay would be 30 s
        clock.sleep(60.0)  # Backoff.stable_s: it ran well
        stack.kill("inference")
        sup.step()
        assert said[-1] == "inference exited with signal SIGKILL after 60 s up; restarting in 0.5 s (restart 7)"
        assert sup.services["inference"].rapid_failures == 1

    def test_a_service_that_crashes_while_still_starting_does_not_reset_the_delay(self) -> None:
        sup, stack, clock, said = supervised()
        crash_right_after_start(sup, stack, clock, "inference", 3)
        clock.sleep(59.0)
        stack.kill("inference")
        sup.step()
        assert said[-1].endswith("restarting in 4.0 s (restart 4)")

    def test_a_failed_start_counts_as_one_more_exit_and_is_retried(self) -> None:
        sup, stack, clock, said = supervised()
        stack.kill("inference")
        stack.spawn_errors.append(OSError(24, "Too many open files"))
        run_for(sup, clock, 0.6)
        assert said[-1] == ("inference could not be started ([Errno 24] Too many open files); restarting in 1.0 s "
                            "(restart 1)")
        run_for(sup, clock, 1.0)
        assert said[-1] == "inference restarted (pid 103, restart 1)"


class TestStop:
    def test_nothing_is_restarted_or_said_after_a_stop_request(self) -> None:
        """Ctrl-C in a terminal signals the children too: their exits that follow are no crashes."""
        sup, stack, clock, said = supervised()
        sup.request_stop()
        for name in SERVICES:
            stack.kill(name, code=-signal.SIGINT)
        run_for(sup, clock, 60.0)
        assert said == [] and len(stack.spawned) == 3

    def test_a_restart_that_was_waiting_is_not_done_after_a_stop_request(self) -> None:
        sup, stack, clock, said = supervised()
        stack.kill("inference")
        sup.step()
        sup.request_stop()
        run_for(sup, clock, 5.0)
        assert len(stack.spawned) == 3 and len(said) == 1

    def test_run_supervises_until_a_stop_is_requested(self) -> None:
        stack, clock, said = FakeStack(env={}), Clock(), []

        def sleep(s: float) -> None:
            clock.sleep(s)
            if abs(clock.now - 1002.0) < 1e-6:
                stack.kill("inference")
            if clock.now >= 1010.0:
                sup.request_stop()

        sup = Supervisor(stack, SERVICES, clock=clock, sleep=sleep, say=said.append, poll_s=0.5)
        sup.start_all()
        sup.run()
        assert clock.now == pytest.approx(1010.0)
        assert said[3:] == ["inference exited with signal SIGKILL after 2.0 s up; restarting in 0.5 s (restart 1)",
                            "inference restarted (pid 103, restart 1)"]


@pytest.mark.parametrize(("code", "words"), [(-signal.SIGKILL, "exited with signal SIGKILL"),
                                             (-signal.SIGTERM, "exited with signal SIGTERM"), (0, "exited with code 0"),
                                             (3, "exited with code 3"), (-99, "exited with signal 99")])
def test_describe_exit(code: int, words: str) -> None:
    assert describe_exit(code) == words


class TestLocalStackRestart:
    """With real (short) processes: what the supervisor relies on."""

    def test_restart_runs_the_same_command_again(self) -> None:
        stack = LocalStack(env={})
        first = stack.start("probe", module="platform", args=["--terse"])
        assert first.wait(timeout=30) == 0
        second = stack.restart("probe")
        assert second.wait(timeout=30) == 0
        assert second.pid != first.pid and second.args == first.args == [sys.executable, "-m", "platform", "--terse"]

    def test_restart_refuses_a_process_that_still_runs(self) -> None:
        stack = LocalStack(env={})
        stack.start("sleeper", module="timeit", args=["-n", "1", "import time; time.sleep(30)"])
        try:
            with pytest.raises(RuntimeError, match="sleeper is still running"):
                stack.restart("sleeper")
        finally:
            assert stack.stop_all()["sleeper"] == -signal.SIGTERM
