"""Reading the alert file (YAML, safe loader: data only) into the rules of application.alerting.rules."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from application.alerting.rules import AlertConfig, RulesError, rules_from

__all__ = ["DEFAULT_ALERTS", "load_alert_file"]

# Shipped in the package: the seed's four alerts, with no receivers.
DEFAULT_ALERTS = "default-alerts.yaml"


def load_alert_file(path: str | Path | None) -> AlertConfig:
    """The rules of ``path``, or of the default file when None; RulesError naming what is wrong."""
    if path is None:
        text = resources.files("adapters.alerting").joinpath(DEFAULT_ALERTS).read_text()
        source = f"the default alert file ({DEFAULT_ALERTS})"
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise RulesError(f"{source}: cannot be read: {e.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RulesError(f"{source}: not YAML: {e}") from None
    return rules_from(document, source)
