"""Reads `rules/routing.yaml` (safe YAML) into a validated Routing, with the file in every error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from notifier.domain.routing import Routing

__all__ = ["ROUTING_FILE", "RoutingFileError", "load_routing"]

ROUTING_FILE = "routing.yaml"


class RoutingFileError(ValueError):
    pass


def load_routing(rules_dir: Path) -> Routing:
    path = rules_dir / ROUTING_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Routing.model_validate(data)
    except FileNotFoundError as error:
        raise RoutingFileError(f"{path}: not found; coordinators' routes live there") from error
    except yaml.YAMLError as error:
        raise RoutingFileError(f"{path}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise RoutingFileError(f"{path}: {problems}") from error
