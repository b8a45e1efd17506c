"""The cloud through openstacksdk: a connection from clouds.yaml (credentials never on argv or
in a log: openstacksdk reads them itself) and the few REST calls the runbooks make, each
answer read by stackwatch.nova.answers. openstacksdk is imported here, when a probe or a
recovery runs, never when ``stackwatch check`` starts.
"""

from __future__ import annotations

from typing import Any

from stackwatch.nova.answers import AnswerError, fault_message

# Microversions: 2.47 embeds the flavor in a server, 2.53 gives services ids and forced_down,
# 2.68 drops evacuate's force flag (the scheduler always checks the target).
LIST_VERSION = "2.53"
EVACUATE_VERSION = "2.68"
CONSOLE_VERSION = "2.6"


class CloudError(Exception):
    """The cloud cannot be reached or configured, or refused a request; ``step`` says where
    (API or compute RPC), ``status`` the HTTP status where there was one."""

    def __init__(
        self, message: str, step: str = "API", status: int | None = None, unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.step = step
        self.status = status
        self.unknown = unknown  # not a failure of the cloud seen, but no answer to judge


def connect(cloud: str | None, api_timeout: float) -> Any:
    """A connection to the clouds.yaml entry ``cloud`` (or the OS_* environment)."""
    import openstack
    import openstack.exceptions

    try:
        if cloud:
            return openstack.connect(cloud=cloud, api_timeout=api_timeout)
        return openstack.connect(api_timeout=api_timeout)
    except (openstack.exceptions.SDKException, ValueError, KeyError) as exc:
        name = cloud or "(OS_* environment)"
        raise CloudError(f"cannot configure the cloud {name}: {exc}", unknown=True) from None


def _transport_errors() -> tuple[type[BaseException], ...]:
    import keystoneauth1.exceptions
    import openstack.exceptions

    return (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException, OSError)


# Where a failed console request broke: nova-api answers 409 when the instance's compute
# service is down or the instance not ready, and 500 when the RPC call to the compute timed out.
COMPUTE_SIGNS = ("service is unavailable", "not ready", "timed out", "messagingtimeout", "compute")


def step_of(status: int, message: str) -> str:
    """Which step a refused request points at: compute RPC or the API itself."""
    lowered = message.lower()
    if status in (409, 500, 502, 503, 504) and any(s in lowered for s in COMPUTE_SIGNS):
        return "compute RPC"
    return "API"


def request(conn: Any, service: str, method: str, path: str, **kwargs: Any) -> Any:
    """One request to ``conn.compute`` / ``conn.placement``; the JSON answer, or CloudError."""
    try:
        proxy = getattr(conn, service)  # the first use discovers the service's versions
        response = proxy.request(path, method, raise_exc=False, **kwargs)
    except _transport_errors() as exc:
        raise CloudError(f"{service} API unreachable: {type(exc).__name__}: {exc}") from None
    body = _json(response)
    if response.status_code >= 400:
        message = fault_message(body) if body is not None else response.text[:200]
        raise CloudError(
            f"{service} API answered {response.status_code}: {message}",
            step_of(response.status_code, message),
            response.status_code,
        )
    return body


def _json(response: Any) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        if response.status_code >= 400:
            return None
        status = response.status_code
        raise CloudError(
            f"the API answered something that is not JSON (HTTP {status})", unknown=True
        ) from None


def read(parser: Any, body: Any) -> Any:
    """``parser(body)``, with a wrong shape reported as the API's fault."""
    try:
        return parser(body)
    except AnswerError as exc:
        raise CloudError(f"the API answered an unexpected shape: {exc}", unknown=True) from None
