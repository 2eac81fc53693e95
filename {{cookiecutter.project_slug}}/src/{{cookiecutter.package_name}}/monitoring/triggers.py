"""Small typed clients that start the training pipeline on another system.

Each client builds one HTTP request; `send` either returns it unsent (dry run) or sends it
and checks the status. Credentials come from environment variables named in the settings,
never from files in the repository. The triggered pipeline runs the same evaluation gate
as `make pipeline` and registers the new model as the *challenger*; promoting it to
champion stays a separate, explicit step.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.settings import (
    AirflowTriggerSettings,
    GitHubTriggerSettings,
    JenkinsTriggerSettings,
    KubeflowTriggerSettings,
    RetrainSettings,
)

SECRET_HEADERS = ("authorization",)


@dataclass(frozen=True)
class TriggerRequest:
    system: str
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, object] | None
    expected_status: tuple[int, ...]
    missing: tuple[str, ...] = ()  # settings / variables that must be set to really send
    # Airflow 3: exchange these credentials at `token_url` for a JWT sent as Bearer token.
    token_url: str | None = None
    token_body: dict[str, str] | None = field(default=None, repr=False)

    def describe(self) -> dict[str, object]:
        """The request with secrets masked (safe to print or log)."""
        headers = {
            name: ("***" if name.lower() in SECRET_HEADERS else value)
            for name, value in self.headers.items()
        }
        described: dict[str, object] = {
            "system": self.system,
            "method": self.method,
            "url": self.url,
            "headers": headers,
            "body": self.body,
        }
        if self.token_url:
            described["token_url"] = self.token_url
        return described


@dataclass(frozen=True)
class TriggerResult:
    system: str
    dry_run: bool
    request: dict[str, object]
    status: int | None = None
    response: str = ""
    missing: tuple[str, ...] = field(default=())


class RetrainTrigger(Protocol):
    @property
    def system(self) -> str: ...

    def build(self, reason: str) -> TriggerRequest: ...


def _url(base: str, *parts: str) -> str:
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise UserError(f"trigger URL {base!r} must start with http:// or https:// and name a host")
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in parts)
    return base.rstrip("/") + "/" + quoted


def _basic(user_env: str, secret_env: str) -> tuple[dict[str, str], tuple[str, ...]]:
    user, secret = os.environ.get(user_env, ""), os.environ.get(secret_env, "")
    missing = tuple(name for name, value in ((user_env, user), (secret_env, secret)) if not value)
    if missing:
        return {}, missing
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}, ()


@dataclass(frozen=True)
class GitHubWorkflowTrigger:
    """`POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches` (answers 204)."""

    config: GitHubTriggerSettings
    system: str = "github"

    def build(self, reason: str) -> TriggerRequest:
        owner, _, repo = self.config.repository.partition("/")
        if not owner or not repo:
            raise UserError(
                f"monitoring.retrain.github.repository={self.config.repository!r}: use 'owner/name'"
            )
        token = os.environ.get(self.config.auth_env, "")
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = _url(
            self.config.api_url,
            "repos",
            owner,
            repo,
            "actions",
            "workflows",
            self.config.workflow,
            "dispatches",
        )
        return TriggerRequest(
            self.system, "POST", url, headers, {"ref": self.config.ref}, (204,),
            () if token else (self.config.auth_env,),
        )  # fmt: skip


@dataclass(frozen=True)
class JenkinsTrigger:
    """`POST /job/{job}/build` with an API token (answers 201 Created)."""

    config: JenkinsTriggerSettings
    system: str = "jenkins"

    def build(self, reason: str) -> TriggerRequest:
        auth, missing = _basic(self.config.user_env, self.config.api_key_env)
        url = _url(self.config.url, "job", self.config.job, "build")
        return TriggerRequest(self.system, "POST", url, auth, None, (201,), missing)


@dataclass(frozen=True)
class AirflowTrigger:
    """Airflow 3 REST API: a JWT from `POST /auth/token`, then
    `POST /api/v2/dags/{dag_id}/dagRuns` (answers 200)."""

    config: AirflowTriggerSettings
    system: str = "airflow"

    def build(self, reason: str) -> TriggerRequest:
        user = os.environ.get(self.config.user_env, "")
        secret = os.environ.get(self.config.credential_env, "")
        missing = tuple(
            name
            for name, value in ((self.config.user_env, user), (self.config.credential_env, secret))
            if not value
        )
        url = _url(self.config.url, "api", "v2", "dags", self.config.dag_id, "dagRuns")
        body: dict[str, object] = {"logical_date": None, "conf": {"reason": reason}}
        return TriggerRequest(
            self.system,
            "POST",
            url,
            {"Content-Type": "application/json"},
            body,
            (200,),
            missing,
            token_url=_url(self.config.url, "auth", "token"),
            token_body={"username": user, "password": secret},
        )


@dataclass(frozen=True)
class KubeflowTrigger:
    """Kubeflow Pipelines v2 API: `POST /apis/v2beta1/runs` of a registered pipeline."""

    config: KubeflowTriggerSettings
    system: str = "kubeflow"

    def build(self, reason: str) -> TriggerRequest:
        headers = {"Content-Type": "application/json"}
        token = os.environ.get(self.config.auth_env, "")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body: dict[str, object] = {
            "display_name": "retrain",
            "description": reason[:500],
            "pipeline_version_reference": {"pipeline_id": self.config.pipeline_id},
            "runtime_config": {"parameters": {}},
        }
        if self.config.experiment_id:
            body["experiment_id"] = self.config.experiment_id
        missing = () if self.config.pipeline_id else ("monitoring.retrain.kubeflow.pipeline_id",)
        url = _url(self.config.host, "apis", "v2beta1", "runs")
        return TriggerRequest(self.system, "POST", url, headers, body, (200,), missing)


def make_trigger(config: RetrainSettings) -> RetrainTrigger | None:
    """The client for `monitoring.retrain.trigger` (None when it is 'none')."""
    triggers: dict[str, RetrainTrigger] = {
        "github": GitHubWorkflowTrigger(config.github),
        "jenkins": JenkinsTrigger(config.jenkins),
        "airflow": AirflowTrigger(config.airflow),
        "kubeflow": KubeflowTrigger(config.kubeflow),
    }
    return triggers.get(config.trigger)


def _post_json(url: str, body: object, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    # The scheme is checked in _url: only http(s) URLs reach urlopen.
    prepared = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read(4000).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(500).decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(
            f"cannot reach {url} ({reason}); check the URL in monitoring.retrain"
        ) from None


def _fetch_token(request: TriggerRequest, timeout: float) -> str:
    assert request.token_url is not None
    status, text = _post_json(
        request.token_url, request.token_body, {"Content-Type": "application/json"}, timeout
    )
    try:
        token = json.loads(text)["access_token"] if status in (200, 201) else None
    except (ValueError, KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise UserError(
            f"{request.system} did not issue a token at {request.token_url} (HTTP {status}); "
            "check the user and password variables in monitoring.retrain"
        )
    return token


def send(request: TriggerRequest, *, dry_run: bool, timeout: float) -> TriggerResult:
    """Send `request` (or only describe it in a dry run); a refused request is a UserError."""
    described = request.describe()
    if dry_run:
        return TriggerResult(request.system, True, described, missing=request.missing)
    if request.missing:
        raise UserError(
            f"cannot trigger {request.system}: set {', '.join(request.missing)} "
            "(or run with --dry-run)"
        )
    headers = dict(request.headers)
    if request.token_url is not None:
        headers["Authorization"] = "Bearer " + _fetch_token(request, timeout)
    data = json.dumps(request.body).encode() if request.body is not None else b""
    # The scheme is checked in _url: only http(s) URLs reach urlopen.
    prepared = urllib.request.Request(  # noqa: S310
        request.url, data=data, headers=headers, method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:  # noqa: S310
            status, text = response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read(500).decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(
            f"cannot reach {request.system} at {request.url} ({reason}); "
            "check the URL in monitoring.retrain"
        ) from None
    if status not in request.expected_status:
        detail = one_line(text)
        raise UserError(
            f"{request.system} refused the retrain request: HTTP {status} {detail}; check the "
            "credentials and the job / workflow / DAG / pipeline name in monitoring.retrain"
        )
    return TriggerResult(request.system, False, described, status, text)
