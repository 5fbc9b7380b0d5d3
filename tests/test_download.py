"""The Inception weights' download, against a local HTTP server on the loopback address, never the
internet: a good file lands in torch's hub cache and is used; a wrong digest, a dropped connection, an
HTTP error or no server at all is one line that says where to put the file, and leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar, Iterator

import pytest
import torch
from omegaconf import OmegaConf

from conftest import cli_env, describe, run_cli
from gan_cli.config import EvalConfig, Extractor
from gan_cli.errors import UserError
from gan_cli.metrics.download import Download, DownloadFailed, fetch
from gan_cli.metrics.extractors import (
    INCEPTION_ALIASES,
    INCEPTION_FILE,
    INCEPTION_SHA256,
    INCEPTION_SHA256_VARIABLE,
    INCEPTION_SHAPES,
    INCEPTION_URL,
    INCEPTION_URL_VARIABLE,
    inception_source,
    inception_weights_path,
)
from gan_cli.metrics.quality import check_scorer_inputs


def small_inception_file() -> bytes:
    """The layout check_inception_file looks for, each tensor one value broadcast: about 2 kB."""
    state = {key: torch.zeros(1).expand(*shape) for key, shape in INCEPTION_SHAPES.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


PAYLOAD = small_inception_file()
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """/good: the file; /dropped: a Content-Length twice the body, then the connection closes; else 404."""

    requests: ClassVar[list[str]] = []  # the paths asked for, in order

    def do_GET(self) -> None:
        Handler.requests.append(self.path)
        if self.path not in ("/good", "/dropped"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD) * (2 if self.path == "/dropped" else 1)))
        self.end_headers()
        self.wfile.write(PAYLOAD)  # HTTP/1.0: the server closes the connection after this

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but never listens: every connection to it is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/{INCEPTION_FILE}"


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """torch's hub cache in a fresh folder; the download's source pointed away from the internet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(INCEPTION_URL_VARIABLE, raising=False)
    monkeypatch.delenv(INCEPTION_SHA256_VARIABLE, raising=False)
    Handler.requests.clear()
    return tmp_path / "torch" / "hub" / "checkpoints"


def serve(monkeypatch, url: str, sha256: str = PAYLOAD_SHA256) -> None:
    monkeypatch.setenv(INCEPTION_URL_VARIABLE, url)
    monkeypatch.setenv(INCEPTION_SHA256_VARIABLE, sha256)


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def one_line_failure() -> str:
    with pytest.raises(UserError) as raised:
        inception_weights_path(None)
    message = str(raised.value)
    assert "\n" not in message and not isinstance(raised.value, DownloadFailed), message
    return message


def inception_eval_config():
    return OmegaConf.structured(EvalConfig(extractor=Extractor.inception, num_samples=5000))


def test_a_file_with_the_right_digest_lands_in_the_cache_and_is_used(server, hub, monkeypatch, capsys):
    serve(monkeypatch, f"{server}/good")
    assert check_scorer_inputs(inception_eval_config(), labeled=True) is Extractor.inception  # pre-flight fetches it
    assert left_in(hub) == [INCEPTION_FILE] and (hub / INCEPTION_FILE).read_bytes() == PAYLOAD
    assert inception_weights_path(None) == hub / INCEPTION_FILE
    assert Handler.requests == ["/good"]  # fetched once, then read from the cache
    said = capsys.readouterr().err
    assert f"saved {hub / INCEPTION_FILE}" in said and PAYLOAD_SHA256[:12] in said, said


def test_a_wrong_digest_keeps_nothing(server, hub, monkeypatch):
    serve(monkeypatch, f"{server}/good", sha256="0" * 64)
    message = one_line_failure()
    assert f"has SHA-256 {PAYLOAD_SHA256}, not the expected {'0' * 64}" in message, message
    assert f"no Inception weights at {hub / INCEPTION_FILE}" in message and f"Put {INCEPTION_FILE}" in message, message
    assert left_in(hub) == []


def test_a_dropped_connection_keeps_nothing(server, hub, monkeypatch):
    serve(monkeypatch, f"{server}/dropped")
    message = one_line_failure()
    assert "stopped after 2.1 kB of 4.3 kB" in message and "run again to retry" in message, message
    assert f"Put {INCEPTION_FILE}" in message and "eval.inception_weights=PATH" in message, message
    assert left_in(hub) == []


def test_an_http_error_keeps_nothing(server, hub, monkeypatch):
    serve(monkeypatch, f"{server}/moved")
    message = one_line_failure()
    assert f"{server}/moved answered HTTP 404 Not Found" in message, message
    assert left_in(hub) == []


def test_offline_says_where_to_put_the_file(refused_url, hub, monkeypatch):
    serve(monkeypatch, refused_url)
    message = one_line_failure()
    assert message.startswith(f"no Inception weights at {hub / INCEPTION_FILE}, and downloading them failed: cannot reach"), message
    assert "Connection refused" in message and f"Put {INCEPTION_FILE} (from {refused_url}) into {hub}," in message, message
    assert "eval.extractor=classifier or random_conv" in message, message
    assert left_in(hub) == []


def test_a_cache_that_cannot_be_written_is_one_line(server, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "a_file" / "torch"))
    serve(monkeypatch, f"{server}/good")
    message = one_line_failure()
    assert "cannot write into" in message and "Not a directory" in message, message


def test_weights_already_cached_under_pytorch_fids_name_are_not_fetched_again(refused_url, hub, monkeypatch):
    serve(monkeypatch, refused_url)
    hub.mkdir(parents=True)
    (hub / INCEPTION_ALIASES[0]).write_bytes(PAYLOAD)
    assert inception_weights_path(None) == hub / INCEPTION_ALIASES[0]


def test_a_configured_path_is_never_downloaded_over(server, hub, monkeypatch, tmp_path):
    serve(monkeypatch, f"{server}/good")
    with pytest.raises(UserError, match=f"does not exist; put {INCEPTION_FILE}"):
        inception_weights_path(str(tmp_path / "mine.pth"))
    assert Handler.requests == [] and left_in(hub) == []


def test_a_malformed_digest_in_the_environment_is_one_line(server, hub, monkeypatch):
    serve(monkeypatch, f"{server}/good", sha256="6726825d")
    assert f"{INCEPTION_SHA256_VARIABLE}=6726825d is not a SHA-256" in one_line_failure()


def test_the_default_source_is_torch_fidelitys_release_and_its_digest_matches_the_name(hub):
    source = inception_source()
    assert source.url == INCEPTION_URL and source.url.startswith("https://github.com/toshas/torch-fidelity/releases/")
    assert source.url.endswith("/" + INCEPTION_FILE) and source.sha256 == INCEPTION_SHA256
    # torch.hub's convention: the name ends in the first hex digits of the content's SHA-256
    assert INCEPTION_SHA256.startswith(re.search(r"-([0-9a-f]{8})\.pth$", INCEPTION_FILE).group(1))


def test_a_server_that_never_answers_times_out(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections queue, and nothing ever answers them
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/{INCEPTION_FILE}"
        with pytest.raises(DownloadFailed, match=r"cannot reach .* \(timed out after 0.5 s\)"):
            fetch(Download(url, PAYLOAD_SHA256, timeout_s=0.5), tmp_path / "weights.pth", "fetching")
    assert left_in(tmp_path) == []


def test_fetch_alone_replaces_nothing_on_a_failure(server, tmp_path):
    destination = tmp_path / "kept.bin"
    destination.write_bytes(b"an earlier file")
    with pytest.raises(DownloadFailed):
        fetch(Download(f"{server}/dropped", PAYLOAD_SHA256, timeout_s=5), destination, "fetching")
    assert left_in(tmp_path) == ["kept.bin"] and destination.read_bytes() == b"an earlier file"


def test_gan_train_offline_stops_at_pre_flight_in_one_line(refused_url, fake_mnist_root, tmp_path):
    """No run directory, no training: the weights are settled before either."""
    env = cli_env(TORCH_HOME=str(tmp_path / "torch"), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1", **{INCEPTION_URL_VARIABLE: refused_url})
    args = ["model=gan", "eval.extractor=inception", "eval.num_samples=2049", f"data.root={fake_mnist_root}", "device=cpu"]
    result = run_cli("gan-train", *args, cwd=tmp_path, env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, describe(result)
    assert lines[0].startswith("gan-train: error: no Inception weights at ") and "Connection refused" in lines[0], describe(result)
    assert not (tmp_path / "outputs").exists() and left_in(tmp_path / "torch" / "hub" / "checkpoints") == []
