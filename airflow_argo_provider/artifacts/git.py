"""Git input artifacts: ``git: {repo, revision, ...}`` cloned into the artifact's path.

Argo's fields and order: clone ``repo`` (``depth`` makes it shallow; ``singleBranch`` with
``branch`` clones that branch only), fetch the ``fetch`` refspecs, then, when ``revision`` is
set, fetch the branches and check out the commit, tag or branch it names; submodules are
updated unless ``disableSubmodules``. Credentials come from Secrets: ``usernameSecret`` and
``passwordSecret`` (HTTP basic auth, handed to git as a header through its environment, never
on the command line) or ``sshPrivateKeySecret`` (a key file readable by this process only;
``insecureIgnoreHostKey`` skips host key checks); ``insecureSkipTLS`` skips certificate checks.
Git artifacts are inputs only (Argo has no git output). Runs the ``git`` command.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_argo_provider.artifacts.model import StoreError

SecretReader = Callable[[str, str], str]
TIMEOUT = 600


def _secret(spec: dict[str, Any], field: str, secret: SecretReader) -> str | None:
    ref = spec.get(field)
    if ref is None:
        return None
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
        raise StoreError(f"git artifact: {field} must name a secret and its key")
    try:
        return secret(str(ref["name"]), str(ref["key"]))
    except Exception as exc:
        raise StoreError(f"git artifact credentials: {exc}") from None


def _run(args: list[str], env: dict[str, str], cwd: Path | None, repo: str) -> None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise StoreError("git artifacts need the git command, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise StoreError(f"git {args[0]} of {repo} did not finish within {TIMEOUT}s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise StoreError(f"git {args[0]} of {repo} failed: {' '.join(detail[-3:])[:500]}")


def clone(spec: dict[str, Any], dest: Path, secret: SecretReader) -> None:
    """Clone ``spec['repo']`` into ``dest`` and check out its revision."""
    repo = str(spec.get("repo") or "")
    if not repo:
        raise StoreError("git artifact has no repo")
    if spec.get("singleBranch") and not spec.get("branch"):
        raise StoreError("git artifact: singleBranch needs a branch")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"})
    config: list[tuple[str, str]] = [("advice.detachedHead", "false"), ("protocol.file.allow", "always")]
    user = _secret(spec, "usernameSecret", secret)
    password = _secret(spec, "passwordSecret", secret)
    key = _secret(spec, "sshPrivateKeySecret", secret)
    if user is not None or password is not None:
        token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        config.append(("http.extraHeader", f"Authorization: Basic {token}"))
    if spec.get("insecureSkipTLS"):
        config.append(("http.sslVerify", "false"))
    for index, (name, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = name
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(len(config))
    with tempfile.TemporaryDirectory(prefix="argo-git-") as private:
        if key is not None:
            key_file = Path(private) / "id_key"
            key_file.write_text(key if key.endswith("\n") else key + "\n")
            os.chmod(key_file, 0o600)
            checking = "no" if spec.get("insecureIgnoreHostKey") else "accept-new"
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {key_file} -o IdentitiesOnly=yes -o StrictHostKeyChecking={checking} "
                f"-o UserKnownHostsFile={Path(private) / 'known_hosts'}"
            )
        _clone_into(spec, repo, dest, env)


def _clone_into(spec: dict[str, Any], repo: str, dest: Path, env: dict[str, str]) -> None:
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["clone", "--quiet", *(["--no-checkout"] if spec.get("revision") else [])]
    depth = spec.get("depth")
    if depth:
        args += ["--depth", str(int(depth))]
    if spec.get("singleBranch"):
        args += ["--single-branch", "--branch", str(spec["branch"])]
    _run([*args, "--", repo, str(dest)], env, None, repo)
    refspecs = [str(r) for r in spec.get("fetch") or []]
    if refspecs:
        fetch = ["fetch", "--quiet", *(["--depth", str(int(depth))] if depth else []), "origin", *refspecs]
        _run(fetch, env, dest, repo)
    revision = str(spec.get("revision") or "")
    if revision:
        branches = (
            [f"refs/heads/{spec['branch']}:refs/heads/{spec['branch']}"]
            if spec.get("singleBranch")
            else ["refs/heads/*:refs/heads/*"]
        )
        _run(["fetch", "--quiet", "--update-head-ok", "origin", *branches], env, dest, repo)
        _run(["checkout", "--quiet", "--detach", revision], env, dest, repo)
    if not spec.get("disableSubmodules") and (dest / ".gitmodules").exists():
        _run(["submodule", "update", "--quiet", "--init", "--recursive"], env, dest, repo)
