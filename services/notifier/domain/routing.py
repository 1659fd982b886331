"""Routes: who is told about which decisions, through which channels, now or in a digest.

`rules/routing.yaml` names routes (a team or a coordinator). A decision goes to the routes its
program names; a program that names none known here falls back by area, then by site
country, then to the default route. Each route takes only the outcomes it asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, model_validator

from rarematch.common.contracts import ChangeReason, MatchDecided, Outcome

__all__ = [
    "AppriseTarget",
    "Route",
    "Routing",
    "WebhookTarget",
    "revocation_routes",
    "routes_for",
]

EnvName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookTarget(_Model):
    """An HTTP endpoint that receives the match event, signed per Standard Webhooks."""

    url: HttpUrl
    secret_env: EnvName | None = Field(
        default=None, description="Environment variable holding the signing secret (whsec_…)"
    )
    secret_file: str | None = Field(default=None, description="Or a file holding it")
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_secret_source(self) -> WebhookTarget:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("give the signing secret as secret_env or secret_file (one of them)")
        return self


class AppriseTarget(_Model):
    """Chat and other services through Apprise URLs (Slack, Teams, Matrix, json:// …).

    URLs carry tokens, so they come from the environment or a file, never from this file.
    """

    urls_env: EnvName | None = None
    urls_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AppriseTarget:
        if (self.urls_env is None) == (self.urls_file is None):
            raise ValueError("give the Apprise URLs as urls_env or urls_file (one of them)")
        return self


class Route(_Model):
    mode: Literal["immediate", "digest"] = "immediate"
    digest_window: timedelta = Field(
        default=timedelta(hours=1), description="For digest routes: how long to collect"
    )
    outcomes: list[Outcome] = Field(
        default=[Outcome.ELIGIBLE, Outcome.NEEDS_INFO, Outcome.REVOKED], min_length=1
    )
    email: list[EmailStr] = Field(default_factory=list, description="Recipients")
    webhook: WebhookTarget | None = None
    apprise: AppriseTarget | None = None
    on_revoked: bool = Field(
        default=True,
        description="Alert when a decision this route was alerted about is revoked",
    )
    on_changed: bool = Field(
        default=True,
        description="Alert when an alerted decision changes (other outcome, other facts)",
    )

    @model_validator(mode="after")
    def _has_a_channel(self) -> Route:
        if not (self.email or self.webhook or self.apprise):
            raise ValueError("a route needs at least one channel: email, webhook or apprise")
        if Outcome.INELIGIBLE in self.outcomes:
            raise ValueError("ineligible decisions are never published; remove it from outcomes")
        return self

    @property
    def channels(self) -> list[str]:
        return [name for name in ("email", "webhook", "apprise") if getattr(self, name)]


class Routing(_Model):
    """The whole routing file."""

    routes: dict[str, Route] = Field(min_length=1)
    by_area: dict[str, str] = Field(default_factory=dict, description="area -> route")
    by_country: dict[str, str] = Field(
        default_factory=dict, description="ISO country of a program site -> route"
    )
    default_route: str

    @model_validator(mode="after")
    def _routes_exist(self) -> Routing:
        named = [self.default_route, *self.by_area.values(), *self.by_country.values()]
        unknown = sorted({name for name in named if name not in self.routes})
        if unknown:
            raise ValueError(
                f"unknown route(s) {', '.join(unknown)}; defined: {', '.join(sorted(self.routes))}"
            )
        return self

    @property
    def env_names(self) -> frozenset[str]:
        """Environment variables the routes read their secrets from (`secret_env`, `urls_env`)."""
        names = {
            name
            for route in self.routes.values()
            for name in (
                route.webhook.secret_env if route.webhook else None,
                route.apprise.urls_env if route.apprise else None,
            )
            if name is not None
        }
        return frozenset(names)


def routes_for(decision: MatchDecided, routing: Routing) -> list[str]:
    """Route names for this decision, after fallbacks, keeping those that want its outcome."""
    names = [name for name in decision.routes if name in routing.routes]
    if not names and decision.program_area in routing.by_area:
        names = [routing.by_area[decision.program_area]]
    if not names:
        names = [routing.by_country[c] for c in decision.site_countries if c in routing.by_country]
    if not names:
        names = [routing.default_route]
    unique = list(dict.fromkeys(names))
    changed = decision.change in (ChangeReason.OUTCOME_CHANGED, ChangeReason.FACTS_CHANGED)
    return [
        name
        for name in unique
        if decision.outcome in routing.routes[name].outcomes
        and (routing.routes[name].on_changed or not changed)
    ]


def revocation_routes(alerted: Iterable[str], routing: Routing) -> list[str]:
    """Routes a revocation goes to: those that were sent an alert for the case and program
    (`alerted`, from the store) and are still defined with `on_revoked` (the revoked event's
    own routes may be gone with its program, so they are not used)."""
    return sorted(
        name
        for name in set(alerted)
        if name in routing.routes
        and routing.routes[name].on_revoked
        and Outcome.REVOKED in routing.routes[name].outcomes
    )
