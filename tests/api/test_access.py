"""Every route declares what it needs (``opencrate.api.access``): none is open by accident."""

from __future__ import annotations

from quart_trio import QuartTrio

from opencrate.api.access import access_of


async def test_every_route_declares_its_access(app: QuartTrio) -> None:
    undeclared = sorted(
        f"{sorted(rule.methods or ())} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and access_of(app.view_functions[rule.endpoint]) is None
    )
    assert not undeclared, (
        f"routes without an access declaration: {undeclared}; put @requires(Role.X) or "
        "@public directly under the route decorator (opencrate/api/access.py)"
    )


async def test_only_health_and_the_page_are_public(app: QuartTrio) -> None:
    public = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and (found := access_of(app.view_functions[rule.endpoint])) is not None
        and found.is_public
    )
    assert public == ["/", "/api/health", "/api/login", "/ui/", "/ui/<asset>"]
