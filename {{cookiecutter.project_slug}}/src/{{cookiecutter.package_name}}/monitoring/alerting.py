"""Alertmanager configuration with the webhook URL taken from the environment.

monitoring/alertmanager/alertmanager.yml holds a local placeholder URL so that it validates
(`amtool check-config`) and works on a laptop. `make alertmanager-config` writes
build/alertmanager.yml with every webhook receiver pointed at `$ALERT_WEBHOOK_URL`, so a
real endpoint (Slack bridge, PagerDuty, Opsgenie...) never lands in the repository.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.errors import UserError

WEBHOOK_ENV = "ALERT_WEBHOOK_URL"


def check_webhook_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise UserError(
            f"{WEBHOOK_ENV}={url!r} is not a webhook URL; set it to http(s)://host/path"
        )
    return url.strip()


def render_alertmanager_config(source: Path, target: Path, webhook_url: str) -> int:
    """Copy `source` to `target` with every webhook URL replaced; return how many."""
    url = check_webhook_url(webhook_url)
    try:
        config: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{source} not found; pass the Alertmanager configuration path") from None
    except yaml.YAMLError:
        raise UserError(
            f"{source} is not valid YAML; fix it (amtool check-config {source})"
        ) from None
    receivers = config.get("receivers") if isinstance(config, dict) else None
    if not isinstance(receivers, list):
        raise UserError(
            f"{source} has no 'receivers' list; it is not an Alertmanager configuration"
        )
    replaced = 0
    for receiver in receivers:
        for webhook in receiver.get("webhook_configs", []) if isinstance(receiver, dict) else []:
            webhook["url"] = url
            replaced += 1
    if not replaced:
        raise UserError(f"{source} has no webhook_configs to point at {WEBHOOK_ENV}")
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Generated from {source.name} with the webhook URL from ${WEBHOOK_ENV}. Do not commit.\n"
    )
    target.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return replaced
