"""Loaded by the Nova under test (its own virtual environment), never by stackwatch: a paste
filter in place of Keystone's auth_token, with the identity auth_token would have confirmed (an
admin of one project), so that Nova's own keystonecontext middleware, policies and services run
as in a cloud, with no Keystone to start (Nova 34 has no noauth2)."""

from collections.abc import Callable, Iterable
from typing import Any

Start = Callable[..., Any]
App = Callable[[dict[str, Any], Start], Iterable[bytes]]

IDENTITY = {
    "HTTP_X_IDENTITY_STATUS": "Confirmed",
    "HTTP_X_PROJECT_ID": "0123456789abcdef0123456789abcdef",
    "HTTP_X_USER_ID": "fedcba9876543210fedcba9876543210",
    "HTTP_X_ROLES": "admin,member,reader",
    "HTTP_X_AUTH_TOKEN": "admin:admin",
}


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[[App], App]:
    def wrap(app: App) -> App:
        def middleware(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
            environ.update(IDENTITY)
            return app(environ, start_response)

        return middleware

    return wrap
