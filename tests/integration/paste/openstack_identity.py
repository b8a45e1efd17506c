"""A paste filter for the test Glance and Nova in place of Keystone's auth_token middleware: the
identity auth_token would have confirmed (X-Identity-Status: Confirmed, a project, a user, admin
roles), so that the service's own context middleware, policies and tasks run as in a cloud, with
no Keystone to start (Nova 34 has no noauth2). ``token = T`` in the filter's section adds the
X-Auth-Token header Nova passes on. Loaded by the services under test (their own virtual
environments, with only this directory added to PYTHONPATH: tests/integration itself holds
packages named like theirs, nova among them), never by stackwatch."""

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
    identity = dict(IDENTITY)
    if "token" in local_conf:
        identity["HTTP_X_AUTH_TOKEN"] = local_conf["token"]

    def wrap(app: App) -> App:
        def middleware(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
            environ.update(identity)
            return app(environ, start_response)

        return middleware

    return wrap
