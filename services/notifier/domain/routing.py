"""Routes: named coordinator teams and their addresses; a decision goes to its program's routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from rarematch_common.contracts import MatchDecided

__all__ = ["Route", "Routing", "recipients"]


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: list[EmailStr] = Field(min_length=1)


class Routing(BaseModel):
    """`rules/routing.yaml`: routes by name, and the route for programs that name none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: dict[str, Route] = Field(min_length=1)
    default_route: str

    @model_validator(mode="after")
    def _default_exists(self) -> Routing:
        if self.default_route not in self.routes:
            raise ValueError(
                f"default_route '{self.default_route}' is not one of the routes: "
                + ", ".join(sorted(self.routes))
            )
        return self


def recipients(decision: MatchDecided, routing: Routing) -> list[str]:
    """Addresses of the program's routes; unknown or missing routes fall back to the default."""
    names = [name for name in decision.routes if name in routing.routes] or [routing.default_route]
    return list(dict.fromkeys(address for name in names for address in routing.routes[name].email))
