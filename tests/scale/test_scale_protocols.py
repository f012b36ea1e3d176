"""``filewall clamd`` and ``filewall icap`` against the real clients: Debian's ``clamdscan``
(pointed at our server through its own config file) and c-icap's ``c-icap-client``, plus
raw exchanges written from clamd(8) and RFC 3507's examples for what the clients don't send.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from _scale import EICAR, FILEWALL, free_port, health, lure_zip, metrics_text

from filewall.protocols import Answering

CLAMDSCAN = shutil.which("clamdscan")
ICAP_CLIENT = shutil.which("c-icap-client")


def _need(tool: str | None, package: str) -> str:
    if tool is None:  # never a silent skip: scripts/test installs these
        pytest.fail(f"{package} is not installed (scripts/test-packages.txt lists it; run scripts/test)")
    return tool


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEWALL_")}
    env["FILEWALL_LOG_FORMAT"] = "json"
    return env


@contextlib.contextmanager
def _server(args: list[str], ready, log_path: Path):
    handle = open(log_path, "wb")  # noqa: SIM115
    process = subprocess.Popen([FILEWALL, *args], env=_env(), stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    handle.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            with contextlib.suppress(OSError):
                if ready():
                    break
            assert time.monotonic() < deadline, "server did not start: " + log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _exchange(address, payload: bytes, timeout: float = 30) -> bytes:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(payload)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _instream(data: bytes, prefix: bytes = b"zINSTREAM\0", chunk: int = 4096) -> bytes:
    out = [prefix]
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        out.append(struct.pack("!I", len(piece)) + piece)
    out.append(struct.pack("!I", 0))
    return b"".join(out)


@pytest.fixture(scope="module")
def samples(tmp_path_factory, pe_bytes: bytes) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("samples")
    files = {
        "eicar": ("eicar.com", EICAR),
        "lure_zip": ("定制需求.zip", lure_zip(pe_bytes, 1)),
        "renamed_pe": ("发票.pdf.exe", pe_bytes),
        "clean_txt": ("订单备注.txt", "尺寸 50x80cm，颜色：红色，数量 200 个。\n".encode()),
        "clean_csv": ("orders.csv", b"sku,qty\nA1,2\nB7,1\n"),
        "clean_png": ("产品照片.png", bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")),
    }
    paths = {}
    for key, (name, data) in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[key] = path
    return paths


LURES = ("eicar", "lure_zip", "renamed_pe")
CLEAN = ("clean_txt", "clean_csv", "clean_png")


@pytest.fixture(scope="module")
def clamd_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clamd")
    port, metrics_port = free_port(), free_port()
    unix_path = str(folder / "clamd.sock")
    args = ["clamd", "--listen", f"tcp:127.0.0.1:{port}", "--listen", f"unix:{unix_path}", "--workers", "2",
            "--stream-max-mb", "1", "--metrics", f"127.0.0.1:{metrics_port}", "--max-seconds", "5"]

    def ready() -> bool:
        return _exchange(("127.0.0.1", port), b"zPING\0", timeout=2) == b"PONG\0"

    with _server(args, ready, folder / "clamd.log"):
        tcp_conf = folder / "tcp.conf"
        tcp_conf.write_text(f"TCPSocket {port}\nTCPAddr 127.0.0.1\nStreamMaxLength 10M\n")
        unix_conf = folder / "unix.conf"
        unix_conf.write_text(f"LocalSocket {unix_path}\n")
        yield {"port": port, "unix": unix_path, "tcp_conf": tcp_conf, "unix_conf": unix_conf,
               "metrics": metrics_port, "folder": folder}


def _clamdscan(conf: Path, *args: str) -> tuple[int, dict[str, str]]:
    tool = _need(CLAMDSCAN, "clamdscan (Debian clamav-daemon/clamdscan)")
    result = subprocess.run([tool, f"--config-file={conf}", "--no-summary", *args], capture_output=True, text=True,
                            timeout=120)
    lines = {}
    for line in result.stdout.splitlines():
        path, _, answer = line.rpartition(": ")
        if path:
            lines[path] = answer
    return result.returncode, lines


@pytest.mark.parametrize(
    ("conf", "mode"),
    [("tcp_conf", []), ("tcp_conf", ["--stream"]), ("tcp_conf", ["--multiscan"]),
     ("tcp_conf", ["--stream", "--multiscan"]), ("unix_conf", ["--fdpass"]), ("unix_conf", ["--fdpass", "--multiscan"])],
    ids=["contscan", "instream", "multiscan", "idsession-instream", "fildes", "idsession-fildes"],
)
def test_scale_clamdscan_finds_lures_and_passes_clean(clamd_server, samples, conf, mode):
    files = [str(samples[key]) for key in LURES + CLEAN]
    code, lines = _clamdscan(clamd_server[conf], *mode, *files)
    assert code == 1, lines  # clamdscan: 1 = something found
    for key in LURES:
        answer = lines[str(samples[key])]
        assert answer.startswith("Filewall.Malicious.") and answer.endswith(" FOUND"), (key, answer)
    for key in CLEAN:
        assert lines[str(samples[key])] == "OK", (key, lines)


def test_scale_clamdscan_clean_only_exit_zero_and_folder(clamd_server, samples, tmp_path):
    code, lines = _clamdscan(clamd_server["tcp_conf"], *[str(samples[key]) for key in CLEAN])
    assert code == 0 and set(lines.values()) == {"OK"}
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(samples["clean_txt"], folder)
    shutil.copy(samples["lure_zip"], folder)
    os.mkfifo(folder / "trap.fifo")  # a path scan must never open a FIFO
    code, lines = _clamdscan(clamd_server["tcp_conf"], str(folder))
    assert code == 1
    assert lines[str(folder / "定制需求.zip")].startswith("Filewall.Malicious.")
    assert str(folder / "trap.fifo") not in lines


def test_scale_clamd_raw_protocol(clamd_server, samples):
    tcp = ("127.0.0.1", clamd_server["port"])
    assert _exchange(tcp, b"nPING\n") == b"PONG\n"
    assert _exchange(tcp, b"PING\n") == b"PONG\n"  # old style
    assert _exchange(tcp, b"zVERSION\0").startswith(b"filewall ")
    assert b"| COMMANDS:" in _exchange(tcp, b"zVERSIONCOMMANDS\0")
    assert _exchange(tcp, b"zBOGUS\0") == b"UNKNOWN COMMAND\0"
    assert _exchange(tcp, _instream(EICAR)).startswith(b"stream: Filewall.Malicious.")
    assert _exchange(tcp, _instream(b"hello", b"nINSTREAM\n")) == b"stream: OK\n"
    # StreamMaxLength (1 MiB on this server): refused, connection closed.
    assert _exchange(tcp, _instream(os.urandom(1536 * 1024), chunk=65536)) == b"INSTREAM size limit exceeded. ERROR\0"
    # IDSESSION: numbered answers, possibly out of order, END closes.
    answer = _exchange(tcp, b"zIDSESSION\0" + _instream(EICAR) + b"zPING\0" + _instream(b"hi") + b"zEND\0")
    replies = sorted(answer.rstrip(b"\0").split(b"\0"))
    assert replies[0].startswith(b"1: stream: Filewall.Malicious.")
    assert replies[1:] == [b"2: PONG", b"3: stream: OK"]
    assert _exchange(tcp, b"zIDSESSION\0zCONTSCAN /tmp\0") == b"1: Command invalid inside IDSESSION. ERROR\0"
    # Path commands and a FIFO passed directly: refused, not opened.
    fifo = clamd_server["folder"] / "direct.fifo"
    os.mkfifo(fifo)
    assert _exchange(tcp, f"zSCAN {fifo}\0".encode()) == f"{fifo}: Not supported file type ERROR\0".encode()
    eicar = samples["eicar"]
    assert _exchange(tcp, f"zSCAN {eicar}\0".encode()).startswith(f"{eicar}: Filewall.Malicious.".encode())
    assert _exchange(tcp, f"zCONTSCAN {samples['clean_txt']}\0".encode()) == f"{samples['clean_txt']}: OK\0".encode()
    assert b"POOLS:" in _exchange(clamd_server["unix"], b"zSTATS\0")
    status, state = health(clamd_server["metrics"])
    assert status == 200 and state["ok"]
    text = metrics_text(clamd_server["metrics"])
    assert 'filewall_scans_total{source="clamd",verdict="malicious"}' in text


def test_scale_answering_policy():
    malicious = {"verdict": "malicious", "findings": [{"rule": "type.executable", "score": 100}]}
    suspicious = {"verdict": "suspicious", "findings": [{"rule": "archive.encrypted", "score": 40}]}
    error = {"verdict": "error", "summary": "The check was stopped.", "findings": [{"rule": "scan.killed", "score": 40}]}
    default = Answering()
    assert default.answer(malicious).name == "Filewall.Malicious.type.executable"
    assert default.answer(suspicious).name == "Filewall.Suspicious.archive.encrypted"
    assert default.answer(error).name == "Filewall.Error.scan.killed"
    relaxed = Answering(suspicious="ok", error="error")
    assert not relaxed.answer(suspicious).infected
    assert relaxed.answer(error).error and relaxed.answer(error).message == "The check was stopped."
    assert not default.answer({"verdict": "clean", "findings": []}).infected


# -- ICAP ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def icap_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("icap")
    port = free_port()

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True

    with _server(["icap", "--listen", f"127.0.0.1:{port}", "--workers", "2", "--max-object-mb", "2"], ready,
                 folder / "icap.log"):
        yield {"port": port, "folder": folder}


def _icap_client(port: int, *args: str) -> subprocess.CompletedProcess:
    tool = _need(ICAP_CLIENT, "c-icap-client (Debian c-icap)")
    # c-icap-client prints part of its report on stderr: read both as one text.
    return subprocess.run([tool, "-i", "127.0.0.1", "-p", str(port), "-v", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)


def test_scale_icap_client_options(icap_server):
    result = _icap_client(icap_server["port"], "-s", "respmod")
    assert "Allow 204: Yes" in result.stdout and "Preview: 1024" in result.stdout
    assert "Methods: RESPMOD" in result.stdout and 'ISTag: "FW-' in result.stdout


@pytest.mark.parametrize("key", CLEAN)
def test_scale_icap_client_clean_gets_204(icap_server, samples, key):
    result = _icap_client(icap_server["port"], "-s", "respmod", "-f", str(samples[key]),
                          "-resp", f"http://shop.example/files/{samples[key].name}")
    assert "ICAP/1.0 204 No Content" in result.stdout, result.stdout


@pytest.mark.parametrize("key", LURES)
@pytest.mark.parametrize("method", ["-resp", "-req"])
def test_scale_icap_client_lure_gets_block_page(icap_server, samples, key, method, tmp_path):
    out = tmp_path / "page.html"
    service = "respmod" if method == "-resp" else "reqmod"
    result = _icap_client(icap_server["port"], "-s", service, "-f", str(samples[key]), method,
                          "http://shop.example/download/x", "-o", str(out))
    assert "ICAP/1.0 200 OK" in result.stdout and "HTTP/1.1 403 Forbidden" in result.stdout, result.stdout
    assert "Threat=Filewall.Malicious." in result.stdout
    page = out.read_text(encoding="utf-8")
    assert "已拦截" in page and "Blocked" in page and "危险" in page and "malicious" in page


def test_scale_icap_client_no204_echoes_clean_body(icap_server, samples, tmp_path):
    out = tmp_path / "echo.bin"
    big = tmp_path / "photo.bin"
    big.write_bytes(samples["clean_png"].read_bytes() + bytes(range(256)) * 40)  # past the preview
    result = _icap_client(icap_server["port"], "-s", "respmod", "-f", str(big), "-resp", "http://x/photo.bin",
                          "-no204", "-o", str(out))
    assert "ICAP/1.0 200 OK" in result.stdout
    assert out.read_bytes() == big.read_bytes()


def _icap_raw(port: int, payload: bytes, expect_continue: bool = False, rest: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(payload)
        if expect_continue:
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"ICAP/1.0 100 Continue"), head
            sock.sendall(rest)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def _chunked(data: bytes, last: bytes = b"0\r\n\r\n") -> bytes:
    return (f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b"") + last


def test_scale_icap_rfc3507_reqmod_multipart_upload(icap_server, pe_bytes):
    """RFC 3507 §4.8.3-style REQMOD of a form upload; the file part is scanned by its name."""
    boundary = "----filewall"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("报价单.pdf.exe", pe_bytes)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"报价单.zip\"\r\n"
        "Content-Type: application/zip\r\n\r\n"
    ).encode() + archive.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    http = (
        "POST /upload HTTP/1.1\r\nHost: shop.example\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    head = (
        f"REQMOD icap://127.0.0.1:{icap_server['port']}/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n"
        f"Encapsulated: req-hdr=0, req-body={len(http)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _icap_raw(icap_server["port"], head + http + _chunked(body))
    assert answer.startswith(b"ICAP/1.0 200 OK"), answer[:300]
    assert b"HTTP/1.1 403 Forbidden" in answer
    assert "报价单.zip".encode() in answer


def test_scale_icap_rfc3507_preview_ieof_and_continue(icap_server):
    """RFC 3507 §4.5: a preview holding the whole body (ieof) is answered at once; a longer
    body gets 100 Continue and is then answered on the full body."""
    port = icap_server["port"]
    res_hdr = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    req_hdr = b"GET /notes.txt HTTP/1.1\r\nHost: shop.example\r\n\r\n"

    def head(preview: int, allow204: bool = True) -> bytes:
        return (
            f"RESPMOD icap://127.0.0.1:{port}/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"
            + ("Allow: 204\r\n" if allow204 else "")
            + f"Preview: {preview}\r\nEncapsulated: req-hdr=0, res-hdr={len(req_hdr)}, "
            f"res-body={len(req_hdr) + len(res_hdr)}\r\nConnection: close\r\n\r\n"
        ).encode() + req_hdr + res_hdr

    small = b"just a note\n"
    answer = _icap_raw(port, head(1024) + _chunked(small, b"0; ieof\r\n\r\n"))
    assert answer.startswith(b"ICAP/1.0 204 No Content")
    payload = EICAR
    answer = _icap_raw(port, head(10) + _chunked(payload[:10]), expect_continue=True,
                       rest=_chunked(payload[10:]))
    assert answer.startswith(b"ICAP/1.0 200 OK") and b"403 Forbidden" in answer
    # Too large (the server takes 2 MiB): blocked with a page that says why, never passed.
    big = os.urandom(3 * 1024 * 1024)
    answer = _icap_raw(port, head(0) + b"0\r\n\r\n", expect_continue=True, rest=_chunked(big))
    assert answer.startswith(b"ICAP/1.0 200 OK") and "超过".encode() in answer


# -- the shared body spool (clamd INSTREAM, ICAP bodies) ------------------------------------------
def test_scale_body_spool_memory_spill_and_cleanup(tmp_path):
    from filewall.protocols import BodySpool

    with BodySpool(100, in_memory=10, temp_root=str(tmp_path)) as spool:
        assert spool.admit(8) and not spool.over_limit
        spool.append(b"a" * 8)
        assert spool.finish() == b"a" * 8 and not spool.spooled
    with BodySpool(100, in_memory=10, prefix="filewall-t-", temp_root=str(tmp_path)) as spool:
        for piece in (b"a" * 8, b"b" * 8, b"c" * 8):
            assert spool.admit(len(piece))
            spool.append(piece)
        path = spool.finish()
        assert spool.spooled and isinstance(path, str) and Path(path).parent == tmp_path
        assert Path(path).name.startswith("filewall-t-") and Path(path).read_bytes() == b"a" * 8 + b"b" * 8 + b"c" * 8
        assert spool.admit(100) is False and spool.over_limit and spool.size == 124
    assert list(tmp_path.iterdir()) == []  # removed on leaving the block
    with pytest.raises(RuntimeError), BodySpool(100, in_memory=1, temp_root=str(tmp_path)) as spool:
        spool.admit(2)
        spool.append(b"xy")
        raise RuntimeError("the client went away")
    assert list(tmp_path.iterdir()) == []  # and on an error


class _StubScanner:
    """Records what the servers hand to the scanner (a path must still exist while scanned)."""

    def __init__(self, temp_root: str):
        from types import SimpleNamespace

        self.options = SimpleNamespace(temp_root=temp_root)
        self.slots = SimpleNamespace(size=1, busy=0)
        self.seen: list[tuple[str, bytes]] = []

    def scan(self, source, name, **fields):
        from filewall.protocols import Answer

        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        self.seen.append(("path" if isinstance(source, str) else "bytes", data))
        return {}, Answer(False)

    def close(self) -> None:
        pass


BIG = 17 * 1024 * 1024  # past the 16 MiB kept in memory: spooled to a temp file


def test_scale_clamd_instream_spool(tmp_path):
    from filewall.protocols.clamd import ClamdServer

    scanner = _StubScanner(str(tmp_path))
    port = free_port()
    server = ClamdServer(scanner, [f"tcp:127.0.0.1:{port}"], stream_max_length=20 * 1024 * 1024).start()
    try:
        body = os.urandom(BIG)
        assert _exchange(("127.0.0.1", port), _instream(body, chunk=1 << 20)) == b"stream: OK\0"
        assert scanner.seen == [("path", body)]
        assert list(tmp_path.iterdir()) == []
        # Over StreamMaxLength after spooling: refused, and the temp file is gone too.
        too_big = _instream(os.urandom(BIG), chunk=1 << 20)[:-4] + _instream(os.urandom(4 << 20), b"", 1 << 20)
        assert _exchange(("127.0.0.1", port), too_big) == b"INSTREAM size limit exceeded. ERROR\0"
        assert list(tmp_path.iterdir()) == [] and len(scanner.seen) == 1
    finally:
        server.close()


def test_scale_icap_spooled_body_after_preview(tmp_path):
    from filewall.protocols.icap import IcapServer

    scanner = _StubScanner(str(tmp_path))
    server = IcapServer(scanner, port=0, max_object=20 * 1024 * 1024).start()
    try:
        port = server.port
        res_hdr = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
        head = (
            f"RESPMOD icap://127.0.0.1:{port}/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\nPreview: 4\r\n"
            f"Encapsulated: res-hdr=0, res-body={len(res_hdr)}\r\nConnection: close\r\n\r\n"
        ).encode() + res_hdr
        body = os.urandom(BIG)
        # No Allow: 204 and a body after the preview: the clean message is echoed from the spool.
        answer = _icap_raw(port, head + _chunked(body[:4]), expect_continue=True, rest=_chunked(body[4:]))
        assert answer.startswith(b"ICAP/1.0 200 OK"), answer[:300]
        assert answer.endswith(res_hdr + _chunked(body))
        assert scanner.seen == [("path", body)]
        assert list(tmp_path.iterdir()) == []
        # Past --max-object-mb after spooling: blocked as too large, the temp file removed.
        answer = _icap_raw(port, head + _chunked(body[:4]), expect_continue=True,
                           rest=f"{BIG:x}\r\n".encode() + body + b"\r\n" + _chunked(os.urandom(4 << 20)))
        assert answer.startswith(b"ICAP/1.0 200 OK") and "超过".encode() in answer
        assert list(tmp_path.iterdir()) == [] and len(scanner.seen) == 1
    finally:
        server.close()
