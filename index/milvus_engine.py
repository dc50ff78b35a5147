"""The Milvus 2.5 engine run as a local process, and engine errors in the project's words.

The C++ engine of Milvus 2.5 ships inside `milvus-lite==2.5.1`. `scripts/install.sh` installs it apart from
the main environment (it would replace milvus-lite 3.2.2, the pure-Python stand-in that `milvus:FILE.db`
opens), into `.venv/milvus-engine` or where NEWSDESK_MILVUS_ENGINE points. `LocalEngine` starts its
binary on 127.0.0.1 with a data file and stops it: the tests and the benchmarks run every Milvus feature
the store uses against it, as they would against a server (`milvus:http://HOST:19530`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from index.errors import IndexStateError

ENGINE_SETTING = "NEWSDESK_MILVUS_ENGINE"
ENGINE_PACKAGE = "milvus-lite==2.5.1"


def engine_folder() -> Path:
    """The engine's package folder (`pip install --no-deps --target FOLDER milvus-lite==2.5.1`)."""
    configured = os.environ.get(ENGINE_SETTING, "").strip()
    return Path(configured).expanduser() if configured else Path(sys.prefix) / "milvus-engine"


def engine_binary() -> Path | None:
    """The engine's executable, None when it is not installed."""
    binary = engine_folder() / "milvus_lite" / "lib" / "milvus"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalEngine:
    """The Milvus 2.5 engine serving `data_file` on 127.0.0.1 until `stop()` (or the `with` block ends)."""

    def __init__(self, data_file: Path, port: int | None = None, *, start_timeout: float = 30.0) -> None:
        binary = engine_binary()
        if binary is None:
            raise IndexStateError(
                f"the Milvus 2.5 engine is not installed in {engine_folder()}: "
                f"pip install --no-deps --target {engine_folder()} {ENGINE_PACKAGE}"
            )
        self.data_file = Path(data_file)
        self.data_file.parent.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ, LD_LIBRARY_PATH=str(binary.parent))
        self._log = open(self.data_file.with_suffix(".log"), "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [str(binary), str(self.data_file), f"127.0.0.1:{self.port}", "ERROR"],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_until_listening(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise IndexStateError(
                    f"the Milvus engine exited with code {self._process.returncode} before serving "
                    f"{self.data_file} (see {self.data_file.with_suffix('.log')})"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise IndexStateError(f"the Milvus engine did not listen on 127.0.0.1:{self.port} in {timeout:.0f} s")

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def engine_errors(uri: str, collection: str, doing: str) -> Iterator[None]:
    """A Milvus engine's error becomes an IndexStateError that says what newsdesk was doing, where; an
    engine that stopped answering is named as such rather than with a gRPC traceback."""
    try:
        yield
    except IndexStateError:
        raise
    except Exception as error:
        if type(error).__module__.split(".")[0] not in ("pymilvus", "grpc", "milvus_lite"):
            raise
        message = getattr(error, "message", "") or str(error)
        raise IndexStateError(
            f"Milvus at {uri} could not {doing} in collection {collection!r}: {message}"
        ) from error
