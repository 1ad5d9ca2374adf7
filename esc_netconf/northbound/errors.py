"""Domain refusals to NETCONF ``<rpc-error>``, in one place.

The core says *why* (a sentence) and *how bad* (an HTTP-style code); NETCONF needs an error-tag. The
code also travels in ``<error-info><error_code>`` (ESC namespace), which ``esc_nc_cli`` prints the way
ESC does.
"""

from __future__ import annotations

from esc_netconf.core.errors import LifecycleError
from esc_netconf.netconf.errors import ErrorTag, ErrorType, NetconfError
from esc_netconf.northbound.esc_xml import q

ERROR_CODE = q("error_code")

_TAGS = {
    400: ErrorTag.INVALID_VALUE,
    404: ErrorTag.DATA_MISSING,
    409: ErrorTag.OPERATION_FAILED,
}


def netconf_error(error: LifecycleError) -> NetconfError:
    code = error.status_code
    return NetconfError(
        _TAGS.get(code, ErrorTag.OPERATION_FAILED),
        error.message,
        type=ErrorType.APPLICATION,
        info={ERROR_CODE: str(code)},
        app_tag={409: "state-conflict", 500: "vim-failure"}.get(code),
    )
