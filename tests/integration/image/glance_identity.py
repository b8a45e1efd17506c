"""A paste filter for the test Glance: the identity Keystone's auth_token middleware would
have confirmed (X-Identity-Status: Confirmed, a project, a user, roles), so that Glance's own
context middleware, policies and import tasks run as in a cloud, with no Keystone to start.
Loaded by the Glance under test (its own virtual environment), never by stackwatch."""

from collections.abc import Callable, Iterable
from typing import Any

Start = Callable[..., Any]
App = Callable[[dict[str, Any], Start], Iterable[bytes]]

IDENTITY = {
    "HTTP_X_IDENTITY_STATUS": "Confirmed",
    "HTTP_X_PROJECT_ID": "0123456789abcdef0123456789abcdef",
    "HTTP_X_USER_ID": "fedcba9876543210fedcba9876543210",
    "HTTP_X_ROLES": "admin,member,reader",
}


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[[App], App]:
    def wrap(app: App) -> App:
        def middleware(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
            environ.update(IDENTITY)
            return app(environ, start_response)

        return middleware

    return wrap
