"""Dispatch of requests to handlers by method and path, for the counterparts' `TLSServer`s."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from conformance.tls.server import Request, Response

RouteHandler = Callable[..., Response | None]  # (request, **path_params) -> Response (None: reset)


@dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: RouteHandler


class Router:
    """`router.add("POST", "/token", handler)`; `{name}` in a path captures one segment."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, methods: str | tuple[str, ...], path: str, handler: RouteHandler) -> None:
        names = (methods,) if isinstance(methods, str) else methods
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        self._routes.append(_Route(frozenset(m.upper() for m in names), re.compile(f"^{regex}$"), handler))

    def __call__(self, request: Request) -> Response | None:
        allowed: set[str] = set()
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if request.method.upper() in route.methods:
                return route.handler(request, **match.groupdict())
            allowed |= route.methods
        if allowed:
            return Response.json({"error": "method_not_allowed"}, 405, {"Allow": ", ".join(sorted(allowed))})
        return Response.json({"error": "not_found", "path": request.path}, 404)
