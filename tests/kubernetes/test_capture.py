"""The in-pod scripts that bring outputs back, run for real with a POSIX shell.

In a pod the copied static BusyBox runs them (``busybox sh``); here ``dash`` runs them and a
BusyBox stand-in (``exec "$@"``) hands the applets (tee, tail, base64, tr, mv, ...) to this
machine's own tools.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from airflow_argo_provider.kubernetes import capture
from airflow_argo_provider.kubernetes.capture import CaptureError, encode_captured, parse_captured


@pytest.fixture
def shell(tmp_path: Path) -> dict[str, Path]:
    dash = shutil.which("dash")
    if dash is None:
        pytest.fail("these tests run the pod scripts with dash (a POSIX shell like BusyBox's)")
    shim = tmp_path / "busybox"
    shim.write_text('#!/bin/sh\nexec "$@"\n')
    shim.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(capture.WRAPPER)
    return {"dash": Path(dash), "shim": shim, "wrapper": wrapper, "dir": tmp_path}


def wrap(shell: dict[str, Path], paths: list[str], command: list[str]) -> list[str]:
    """The main container's command line, with this machine's paths in place of the pod's."""
    argv = capture.wrap_command(command, paths)
    assert argv[:4] == [capture.BUSYBOX, "sh", capture.WRAPPER_PATH, capture.BUSYBOX]
    rest = argv[4:]
    assert rest[:2] == [capture.OUTPUTS_DIR, capture.RETURN_FILE]
    rest[:2] = [str(shell["dir"] / "out"), str(shell["dir"] / "return.json")]
    return [str(shell["dash"]), str(shell["wrapper"]), str(shell["shim"]), *rest]


def document(shell: dict[str, Path]) -> dict:
    return json.loads((shell["dir"] / "return.json").read_text())


def test_exit_code_stdout_and_files(shell: dict[str, Path]) -> None:
    present = shell["dir"] / "param.bin"
    missing = shell["dir"] / "nothing"
    script = f"printf 'line one\\nline two\\n'; echo oops >&2; printf 'caf\\303\\251\\000x' > {present}; exit 3"
    done = subprocess.run(wrap(shell, [str(present), str(missing)], ["sh", "-c", script]), capture_output=True)
    assert done.returncode == 3  # the container ends with the step's exit code
    assert done.stdout == b"line one\nline two\n"  # stdout still reaches the container log
    assert done.stderr == b"oops\n"  # stderr is not part of the result
    captured = parse_captured(document(shell), [str(present), str(missing)])
    assert captured.exit_code == 3
    assert captured.stdout == "line one\nline two\n"
    assert captured.files == {str(present): "café\x00x", str(missing): None}


def test_command_not_found_and_args_with_quotes(shell: dict[str, Path]) -> None:
    done = subprocess.run(wrap(shell, [], ["no-such-command-anywhere"]), capture_output=True)
    assert done.returncode == 127
    assert parse_captured(document(shell), []).exit_code == 127
    tricky = ["printf", "%s|", "a b", "$HOME", "'quoted'", '"dq"', "`x`", "*"]
    done = subprocess.run(wrap(shell, [], tricky), capture_output=True)
    assert done.returncode == 0
    assert parse_captured(document(shell), []).stdout == "a b|$HOME|'quoted'|\"dq\"|`x`|*|"


def test_only_the_last_256_kib_of_stdout_are_kept(shell: dict[str, Path]) -> None:
    # 300 000 bytes of two-byte characters, then a marker: the tail starts mid-character
    script = "i=0; while [ $i -lt 1500 ]; do printf '%0100d' 0 | sed 's/0/é/g'; i=$((i+1)); done; echo END"
    done = subprocess.run(wrap(shell, [], ["sh", "-c", script]), capture_output=True)
    assert done.returncode == 0 and len(done.stdout) == 300_004
    captured = parse_captured(document(shell), [])
    assert captured.stdout.endswith("é" * 10 + "END\n")
    assert not captured.stdout.startswith("\ufffd")
    assert len(captured.stdout.encode()) in (capture.RESULT_TAIL_BYTES, capture.RESULT_TAIL_BYTES - 1)


def test_sigterm_reaches_the_step(shell: dict[str, Path]) -> None:
    process = subprocess.Popen(wrap(shell, [], ["sh", "-c", "echo started; exec sleep 60"]), stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"started\n"
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    assert time.monotonic() - began < 10
    assert process.returncode == 143
    assert parse_captured(document(shell), []).exit_code == 143


def test_init_script_installs_the_wrapper_and_the_script(shell: dict[str, Path]) -> None:
    root = shell["dir"] / "pod"
    (root / "busybox-image" / "bin").mkdir(parents=True)
    busybox = root / "busybox-image" / "bin" / "busybox"
    shutil.copy(shell["shim"], busybox)
    argo_dir, staging = root / "var-run-argo", root / "staging"
    argo_dir.mkdir()
    staging.mkdir()
    # the image's /bin/busybox (not the copy under /var/run/argo) is the stand-in
    script = re.sub(r"(?<![\w@])/bin/busybox", str(busybox), capture.INIT_SCRIPT.replace(capture.ARGO_DIR, "@ARGO@"))
    script = script.replace("@ARGO@", str(argo_dir)).replace(capture.STAGING_DIR, str(staging))
    source = "#!/bin/sh\necho 'it's $1'\n"
    env = {"PATH": "/usr/bin:/bin", capture.WRAPPER_ENV: capture.WRAPPER, capture.SCRIPT_ENV: source}
    done = subprocess.run([str(shell["dash"]), "-c", script], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert (argo_dir / "bin" / "busybox").read_bytes() == busybox.read_bytes()
    assert (argo_dir / "bin" / "wrapper").read_text() == capture.WRAPPER
    assert (staging / "script").read_text() == source
    assert (staging / "script").stat().st_mode & 0o777 == 0o755
    env.pop(capture.SCRIPT_ENV)
    (staging / "script").unlink()
    assert subprocess.run([str(shell["dash"]), "-c", script], env=env).returncode == 0
    assert not (staging / "script").exists()  # a container template has no script


def test_documents_are_checked() -> None:
    good = json.loads(encode_captured(0, b"hi\n", [b"v", None]))
    assert parse_captured(good, ["/a", "/b"]).files == {"/a": "v", "/b": None}
    short = {"exitCode": 0, "stdout": "", "files": []}
    assert parse_captured(short, ["/a"]).files == {"/a": None}
    for bad in (None, [], {"stdout": ""}, {"exitCode": "x"}, {"exitCode": 0, "stdout": "!!notbase64"}):
        with pytest.raises(CaptureError):
            parse_captured(bad, [])
