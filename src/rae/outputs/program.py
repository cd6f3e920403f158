"""``program_output``: pipe each message to a shell command (Falco runs it with ``popen``).

Without ``keep_alive`` the program is started for every alert, gets one line on its standard
input and is waited for; with it, one long-lived process reads every alert, one per line
(started again if it exits).
"""

from __future__ import annotations

import subprocess

from rae.alerts import Alert

__all__ = ["ProgramSink"]


class ProgramSink:
    name = "program"

    def __init__(self, program: str, keep_alive: bool = False, buffered: bool = False,
                 wait_timeout: float = 30.0) -> None:
        if not program:
            raise ValueError("program_output.program is empty")
        self.program = program
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.wait_timeout = wait_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.program, shell=True, stdin=subprocess.PIPE, stdout=None, stderr=None, start_new_session=True
        )

    def emit(self, alert: Alert, message: str) -> None:
        line = (message + "\n").encode()
        if not self.keep_alive:
            proc = self._start()
            self._proc = proc
            try:
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.close()
                proc.wait(timeout=self.wait_timeout)
            finally:
                self._proc = None
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            return
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(line)
            if not self.buffered:
                self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            self._stop()
            raise

    def reopen(self) -> None:
        if self.keep_alive:
            self._stop()

    def _stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Stop a program that does not read its input (used when closing times out)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        self._stop()
