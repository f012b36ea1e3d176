"""``filewall clamd``: a server that speaks clamd's protocol, so ``clamdscan``, mail
filters (clamav-milter, rspamd, Amavis, Exim's ``av_scanner``) and file-share anti-virus
plug-ins use filewall without any change.

Protocol (as ClamAV's clamd(8) and ``clamd/session.c``): a command is prefixed ``z``
(terminated by NUL, answered with NUL) or ``n`` (newline, answered with newline); an
unprefixed command ends at a newline (the old style: only the simple commands). Replies
are ``<name>: OK``, ``<name>: <signature> FOUND`` or ``<name>: <message> ERROR``.

=================== =======================================================================
command             answer
=================== =======================================================================
PING                ``PONG``
VERSION             ``filewall <version>/<rules fingerprint>/<date>``
VERSIONCOMMANDS     the version, then ``| COMMANDS: ...``
INSTREAM            chunks of ``<uint32 length, network order><bytes>`` ending with a zero
                    length; ``stream: ...``; past StreamMaxLength: ``INSTREAM size limit
                    exceeded. ERROR`` and the connection is closed
SCAN path           a file or folder on the server; stops at the first find
CONTSCAN path       the same, without stopping
MULTISCAN path      the same, files scanned in parallel
ALLMATCHSCAN path   as SCAN (filewall always reports its strongest finding)
FILDES              (Unix socket) scans the file whose descriptor came with the command
IDSESSION / END     many commands on one connection, each answered ``<n>: ...`` (n counts
                    the commands from 1), possibly out of order; END closes
STATS               pool state, ending with ``END``
RELOAD              ``RELOADING`` (rules and blocklists reload by themselves when changed)
SHUTDOWN            stops the server, honoured on a Unix socket only
OPTSCAN ... CMD     newer clamdscan's wrapper around CONTSCAN/MULTISCAN/INSTREAM/FILDES
=================== =======================================================================

Path commands read files with the server's permissions, as clamd does: protect the
socket (``--listen unix:`` with file permissions, or loopback TCP), or turn them off
with ``--no-paths``. Special files (FIFOs, devices) are refused, never opened. What a
verdict answers (``suspicious`` and ``error`` are FOUND by default, under distinct
names) is explained in :mod:`filewall.protocols`.
"""

from __future__ import annotations

import array
import contextlib
import logging
import os
import signal
import socket
import socketserver
import stat
import struct
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import __version__
from . import Answer, BodySpool, ProtocolScanner, SocketReader, parse_listen, rules_fingerprint
from . import ConnectionClosed as _Closed

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_STREAM_MAX = 100 * MiB
MAX_COMMAND = 16 * 1024
COMMANDS = (
    "SCAN", "QUIT", "RELOAD", "PING", "CONTSCAN", "VERSIONCOMMANDS", "VERSION", "END", "SHUTDOWN",
    "MULTISCAN", "FILDES", "STATS", "IDSESSION", "INSTREAM", "ALLMATCHSCAN",
)  # fmt: skip
#: Commands accepted inside IDSESSION (as clamd).
SESSION_COMMANDS = {"SCAN", "FILDES", "END", "INSTREAM", "VERSION", "PING", "STATS", "VERSIONCOMMANDS"}
#: Commands that take a path argument.
PATH_COMMANDS = {"SCAN", "CONTSCAN", "MULTISCAN", "ALLMATCHSCAN"}


class ClamdServer:
    """One or more listening sockets (TCP and/or Unix) answering the clamd protocol."""

    def __init__(
        self,
        scanner: ProtocolScanner,
        listen: list[str],
        stream_max_length: int = DEFAULT_STREAM_MAX,
        allow_paths: bool = True,
        command_timeout: float = 30.0,
        read_timeout: float = 120.0,
    ):
        self.scanner = scanner
        self.stream_max_length = stream_max_length
        self.allow_paths = allow_paths
        self.command_timeout = command_timeout
        self.read_timeout = read_timeout
        self.fingerprint = rules_fingerprint()
        self.started = time.time()
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        for item in listen or ["tcp:127.0.0.1:3310"]:
            kind, address = parse_listen(item)
            self._servers.append(self._make_server(kind, address))

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def addresses(self) -> list[str]:
        out = []
        for server in self._servers:
            address = server.server_address
            if isinstance(address, tuple):
                out.append(f"tcp:{address[0]}:{address[1]}")
            else:
                out.append(f"unix:{address}")
        return out

    def start(self) -> ClamdServer:
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait(self) -> None:
        """Block until :meth:`close` (or SHUTDOWN, SIGTERM via the CLI)."""
        self._stopped.wait()

    def close(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
            if isinstance(server.server_address, str):
                with contextlib.suppress(OSError):
                    os.unlink(server.server_address)
        self.scanner.close()

    def _make_server(self, kind: str, address: Any) -> socketserver.BaseServer:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Connection(outer, self.request, unix=(kind == "unix")).run()

        if kind == "unix":
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.stat(address).st_mode):
                    os.unlink(address)  # a stale socket from an earlier run
            server = socketserver.ThreadingUnixStreamServer(address, Handler)
        else:
            host = address[0]
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            server_class = type(
                "TCPServer",
                (socketserver.ThreadingTCPServer,),
                {"address_family": family, "allow_reuse_address": True, "daemon_threads": True},
            )
            server = server_class(address, Handler)
        server.daemon_threads = True
        return server

    # -- answers -----------------------------------------------------------------------
    def version_line(self) -> str:
        return f"filewall {__version__}/{self.fingerprint}/{time.ctime(self.started)}"

    def stats(self) -> str:
        slots = self.scanner.slots
        return (
            "POOLS: 1\n\nSTATE: VALID PRIMARY\n"
            f"THREADS: live {slots.busy}  idle {slots.size - slots.busy} max {slots.size} idle-timeout 30\n"
            "QUEUE: 0 items\n"
            "MEMSTATS: heap N/A mmap N/A used N/A free N/A releasable N/A pools 1 pools_used N/A pools_total N/A\n"
            "END"
        )


def _format(name: str, answer: Answer) -> str:
    if answer.infected:
        return f"{name}: {answer.name} FOUND"
    if answer.error:
        return f"{name}: {answer.message} ERROR"
    return f"{name}: OK"


class _Connection(SocketReader):
    """One client connection: commands in, answers out."""

    max_unterminated = MAX_COMMAND

    def __init__(self, server: ClamdServer, sock: socket.socket, unix: bool):
        self.server = server
        self.sock = sock
        self.unix = unix
        self.buffer = bytearray()
        self.fds: deque[int] = deque()
        self.send_lock = threading.Lock()
        self.session_id = 0
        self.in_session = False
        self.pending: list[Any] = []
        self.executor: ThreadPoolExecutor | None = None

    def run(self) -> None:
        try:
            self._loop()
        except (_Closed, OSError, TimeoutError):
            pass
        except Exception:
            log.exception("clamd connection failed")
        finally:
            self._finish()

    def _loop(self) -> None:
        self.sock.settimeout(self.server.command_timeout)
        while True:
            parsed = self._read_command()
            if parsed is None:
                return
            command, argument, term, prefixed = parsed
            if self.in_session:
                self.session_id += 1
                if not prefixed or command not in SESSION_COMMANDS:
                    self._reply(f"{self.session_id}: Command invalid inside IDSESSION. ERROR", term)
                    return
                if command == "END":
                    return
                self._dispatch(command, argument, term, self.session_id)
                continue
            if command == "IDSESSION":
                if not prefixed:
                    self._reply("UNKNOWN COMMAND", term)
                    return
                self.in_session = True
                self.executor = ThreadPoolExecutor(max_workers=self.server.scanner.slots.size)
                continue
            self._dispatch(command, argument, term, None)
            return  # outside a session, one command per connection (as clamd)

    # -- commands --------------------------------------------------------------------
    def _dispatch(self, command: str, argument: str | None, term: str, sid: int | None) -> None:
        tag = f"{sid}: " if sid is not None else ""
        if command == "PING":
            self._reply(f"{tag}PONG", term)
        elif command == "VERSION":
            self._reply(f"{tag}{self.server.version_line()}", term)
        elif command == "VERSIONCOMMANDS":
            self._reply(f"{tag}{self.server.version_line()}| COMMANDS: {' '.join(COMMANDS)}", term)
        elif command == "STATS":
            self._reply(f"{tag}{self.server.stats()}", term)
        elif command == "RELOAD":
            self._reply("RELOADING", term)
        elif command == "SHUTDOWN":
            if self.unix:
                threading.Thread(target=self.server.close, daemon=True).start()
            raise _Closed()
        elif command == "INSTREAM":
            spool = self._read_stream(term, tag)
            self._run(lambda: self._scan_reply(spool, "stream", term, tag), sid)
        elif command == "FILDES":
            fd = self._take_fd()
            if fd is None:
                self._reply(f"{tag}FILDES: didn't receive file descriptor. ERROR", term)
                return
            self._run(lambda: self._scan_fd(fd, term, tag), sid)
        elif command in PATH_COMMANDS:
            if not self.server.allow_paths:
                self._reply(f"{tag}{argument}: Path commands are disabled on this server. ERROR", term)
                return
            self._run(lambda: self._scan_paths(argument or "", command, term, tag), sid)
        else:
            self._reply("UNKNOWN COMMAND", term)

    def _run(self, job, sid: int | None) -> None:
        if sid is None or self.executor is None:
            job()
        else:
            self.pending.append(self.executor.submit(job))

    def _scan_reply(self, spool: BodySpool, name: str, term: str, tag: str) -> None:
        """Scan an INSTREAM body and answer; its temp file is removed whatever happens."""
        with spool:
            _, answer = self.server.scanner.scan(spool.finish(), name, command="INSTREAM")
        self._reply(tag + _format(name, answer), term)

    def _scan_fd(self, fd: int, term: str, tag: str) -> None:
        label = f"fd[{fd}]"
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self._reply(f"{tag}{label}: Not a regular file ERROR", term)
                return
            # The child opens the same file through /proc: no copy, and never the FIFO trap.
            path = f"/proc/{os.getpid()}/fd/{fd}"
            source: str | bytes = (
                path if os.path.exists(path) else _read_fd(fd, self.server.stream_max_length)
            )
            _, answer = self.server.scanner.scan(source, label, command="FILDES")
            self._reply(tag + _format(label, answer), term)
        finally:
            os.close(fd)

    def _scan_paths(self, top: str, command: str, term: str, tag: str) -> None:
        if not top:
            self._reply("UNKNOWN COMMAND", term)
            return
        try:
            info = os.lstat(top)
        except OSError as error:
            self._reply(f"{tag}{top}: lstat() failed: {error.strerror}. ERROR", term)
            return
        if stat.S_ISLNK(info.st_mode):
            top_real = os.path.realpath(top)
            try:
                info = os.stat(top_real)
            except OSError as error:
                self._reply(f"{tag}{top}: lstat() failed: {error.strerror}. ERROR", term)
                return
        else:
            top_real = top
        if stat.S_ISDIR(info.st_mode):
            files = list(_walk(top_real))
        elif stat.S_ISREG(info.st_mode):
            files = [top_real]
        else:
            self._reply(f"{tag}{top}: Not supported file type ERROR", term)
            return
        infected = errors = 0
        stop_at_first = command in ("SCAN", "ALLMATCHSCAN")

        def one(path: str) -> str | None:
            if not os.access(path, os.R_OK):
                return "error", f"{path}: Access denied. ERROR"
            _, answer = self.server.scanner.scan(path, os.path.basename(path), command=command, path=path)
            if answer.infected:
                return "found", f"{path}: {answer.name} FOUND"
            if answer.error:
                return "error", f"{path}: {answer.message} ERROR"
            return "ok", None

        if command == "MULTISCAN" and len(files) > 1:
            with ThreadPoolExecutor(max_workers=self.server.scanner.slots.size) as pool:
                results = list(pool.map(one, files))
            for kind, line in results:
                infected += kind == "found"
                errors += kind == "error"
                if line:
                    self._reply(tag + line, term)
        else:
            for path in files:
                kind, line = one(path)
                infected += kind == "found"
                errors += kind == "error"
                if line:
                    self._reply(tag + line, term)
                if kind == "found" and stop_at_first:
                    break
        if not infected and (errors != len(files) or not files):
            self._reply(f"{tag}{top}: OK", term)

    # -- reading ------------------------------------------------------------------------
    def _read_command(self) -> tuple[str, str | None, str, bool] | None:
        try:
            first = self._read_exact(1)
        except _Closed:
            return None
        if first == b"z":
            raw, term, prefixed = self._read_until(b"\0"), "\0", True
        elif first == b"n":
            raw, term, prefixed = self._read_until(b"\n"), "\n", True
        else:
            raw, term, prefixed = first + self._read_until(b"\n"), "\n", False
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r")
        command, _, argument = text.partition(" ")
        if command == "OPTSCAN":  # newer clamdscan: OPTSCAN [ALLMATCH] <COMMAND> [path]
            words = argument.split(" ")
            while words and words[0] == "ALLMATCH":
                words.pop(0)
            command = words[0] if words else ""
            argument = " ".join(words[1:])
        argument = argument if command in PATH_COMMANDS else argument.strip()
        if command not in COMMANDS or (command in PATH_COMMANDS) != bool(argument):
            self._reply("UNKNOWN COMMAND", term)
            return None
        if not prefixed and command in ("INSTREAM", "IDSESSION", "END", "STATS", "VERSIONCOMMANDS"):
            self._reply("UNKNOWN COMMAND", term)
            return None
        return command, (argument or None), term, prefixed

    def _read_stream(self, term: str, tag: str) -> BodySpool:
        """Read INSTREAM's chunks to the zero length; past StreamMaxLength, answer and close."""
        spool = BodySpool(
            self.server.stream_max_length,
            prefix="filewall-instream-",
            temp_root=self.server.scanner.options.temp_root,
        )
        self.sock.settimeout(self.server.read_timeout)
        try:
            while length := struct.unpack("!I", self._read_exact(4))[0]:
                if not spool.admit(length):
                    self._reply(f"{tag}INSTREAM size limit exceeded. ERROR", term)
                    raise _Closed()
                spool.append(self._read_exact(length))
            spool.finish()  # closes the temp file; :meth:`_scan_reply` removes it
        except BaseException:
            spool.discard()
            raise
        finally:
            self.sock.settimeout(self.server.command_timeout)
        return spool

    def _take_fd(self) -> int | None:
        """The descriptor sent with FILDES (it rides on one dummy byte after the command)."""
        if not self.unix:
            return None
        while not self.fds:
            self._fill()
        if self.buffer:
            del self.buffer[:1]  # the dummy byte the descriptor came with
        return self.fds.popleft()

    def _fill(self) -> None:
        """Read more; on a Unix socket also take the descriptors FILDES sends along."""
        if not self.unix:
            return super()._fill()
        fds = array.array("i")
        data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        self.fds.extend(fds)
        if not data:
            raise _Closed()
        self.buffer.extend(data)

    # -- writing -------------------------------------------------------------------------
    def _reply(self, text: str, term: str) -> None:
        payload = (text + term).encode("utf-8", "surrogateescape")
        with self.send_lock:
            self.sock.sendall(payload)

    def _finish(self) -> None:
        for future in self.pending:
            with contextlib.suppress(Exception):
                future.result(timeout=self.server.read_timeout + 600)
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        while self.fds:
            with contextlib.suppress(OSError):
                os.close(self.fds.popleft())


def _walk(top: str):
    """Regular files under ``top`` (sorted; symlinks and special files skipped, as clamd)."""
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield path


def _read_fd(fd: int, limit: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, total = [], 0
    while total < limit:
        chunk = os.read(fd, min(1024 * 1024, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def serve(server: ClamdServer) -> None:
    """Run until SIGTERM/SIGINT (or SHUTDOWN over the Unix socket)."""

    def stop(signum, frame) -> None:
        threading.Thread(target=server.close, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    server.wait()


__all__ = ["ClamdServer", "serve"]
